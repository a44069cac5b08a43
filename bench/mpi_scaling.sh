#!/usr/bin/env bash
# Data-parallel scaling on one machine: training tokens/s at 1 and 2 ranks (1 thread each) and
# the all-reduce time per step, on the `small` preset with the default corpus.
# Usage: bash bench/mpi_scaling.sh [steps, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(--data data/kjv.txt --preset small --steps "$steps" --batch 8 --seq 128 --val-fraction 0 --save-every 0 --threads 1)
rate() { /usr/bin/python3 -c "import json,statistics,sys; m=[json.loads(l) for l in open(sys.argv[1])][2:]; print(round(statistics.median(x['tokens_per_second'] for x in m)))" "$1"; }
build/tformer train --out "$tmp/one" "${args[@]}" >/dev/null
out=$(mpirun --allow-run-as-root --oversubscribe -np 2 build/tformer train --out "$tmp/two" "${args[@]}" | tail -2)
echo "1 rank : $(rate "$tmp/one/metrics.jsonl") tokens/s"
echo "2 ranks: $(rate "$tmp/two/metrics.jsonl") tokens/s"
echo "$out" | grep "all-reduce"
