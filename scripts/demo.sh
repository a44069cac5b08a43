#!/usr/bin/env bash
# The main demo: set up, train a small byte-level GPT on the King James Bible in training mode
# (teacher forcing), then generate from it in inference mode (KV-cached).
# Usage: bash scripts/demo.sh   (TFORMER_DEMO_STEPS to change the length, default 1500)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
steps=${TFORMER_DEMO_STEPS:-1500}
out=out/kjv-tiny
if [ -d "$out/tformer_state" ]; then
  echo "== $out already holds a run; continuing it to $steps steps"
  build/tformer train --resume "$out" --steps "$steps"
else
  build/tformer train --data data/kjv.txt --preset tiny --out "$out" --steps "$steps" \
    --batch 8 --seq 256 --lr 3e-3 --min-lr 3e-4 --warmup 100 --eval-every 250 --save-every 250
fi
echo "== greedy"
build/tformer generate --model "$out" --prompt "And God said" --max-new 120
echo "== sampling (temperature 0.8, top-p 0.95, seed 1)"
build/tformer generate --model "$out" --prompt "And it came to pass" --max-new 200 \
  --strategy sample --temperature 0.8 --top-p 0.95 --seed 1 --stream
