#!/usr/bin/env bash
# The code checks CI runs: clang-format on every C++ file (no diff allowed) and clang-tidy with
# the checks listed in .clang-tidy on the library and CLI sources (tests excluded: they are
# built with -Werror too). Needs build/compile_commands.json (scripts/setup.sh writes it).
# Usage: bash scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== clang-format"
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror
echo "== clang-tidy ($(grep -c . .clang-tidy) lines of .clang-tidy)"
files=$(git ls-files 'src/*.cc' | grep -v '_test\.cc$')
run-clang-tidy -p build -quiet -j "$(nproc)" $files > build/clang-tidy.log 2>&1 || {
  grep -E "error:|warning:" build/clang-tidy.log | head -40
  echo "clang-tidy found problems (full log: build/clang-tidy.log)"
  exit 1
}
echo "lint: format and tidy clean"
