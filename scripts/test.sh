#!/usr/bin/env bash
# Every test: installs and builds through scripts/setup.sh (warnings are errors), checks format
# and clang-tidy (scripts/lint.sh), then runs
#   1. ctest on the Release build: unit tests, PyTorch parity (forward and training),
#      the README's shown outputs (scripts/readme_examples.sh --check),
#      tokenizer parity (gpt-3-encoder), kill-and-resume, bad input;
#   2. the unit tests again under ASan + UBSan (Debug);
#   3. the libFuzzer targets for a bounded time.
# Usage: bash scripts/test.sh      (TFORMER_FUZZ_SECONDS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
export TFORMER_WERROR=ON  # every target builds with warnings as errors
bash scripts/setup.sh

echo "== lint (clang-format, clang-tidy)"
bash scripts/lint.sh

echo "== ctest (Release)"
ctest --test-dir build --output-on-failure -j1

echo "== unit tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTFORMER_SANITIZE=ON -DTFORMER_WERROR=ON >/dev/null
cmake --build build-asan --target unit_tests
ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=2 ./build-asan/unit_tests --gtest_brief=1

echo "== fuzzing"
bash scripts/fuzz.sh "${TFORMER_FUZZ_SECONDS:-60}"
echo "all tests passed"
