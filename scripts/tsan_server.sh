#!/usr/bin/env bash
# One-off ThreadSanitizer run of the server's own threads (the batcher's worker, the HTTP threads,
# their jobs): src/server is built with -fsanitize=thread and linked, FIRST (so that the linker
# keeps its instrumented copies of inline templates such as shared_ptr's), with the Release
# build's other libraries and CLI objects, uninstrumented. Races inside the model's OpenMP and
# oneDNN teams cannot be judged that way (their synchronization is not seen) and are
# suppressed or listed apart. Needs build/ (Release). Usage: bash scripts/tsan_server.sh [test.js]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build-tsan
F="-Isrc -O1 -g -fno-omit-frame-pointer -fsanitize=thread -march=native -fopenmp -DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT -DCPPHTTPLIB_BROTLI_SUPPORT -std=gnu++20"
objs=()
for f in src/server/server.cc src/server/http.cc src/server/batcher.cc src/server/openai.cc src/server/chat_template.cc build/web_assets.cc; do
  o=build-tsan/$(basename "$f" .cc).o
  c++ $F -c "$f" -o "$o"
  objs+=("$o")
done
L=$(grep -A6 "^build tformer:" build/build.ninja | grep LINK_LIBRARIES | sed 's/.*LINK_LIBRARIES = //; s/libtf_server.a//; s/ lib\(tf_[a-z]*\.a\)/ build\/lib\1/g')
# shellcheck disable=SC2086
c++ -fsanitize=thread -fopenmp "${objs[@]}" build/CMakeFiles/tformer.dir/src/cli/*.o $L -o build-tsan/tformer
printf 'race:_omp_fn\ncalled_from_lib:libgomp.so.1\n' > build-tsan/supp.txt
rm -f build-tsan/report.*
TSAN_OPTIONS="halt_on_error=0 exitcode=0 suppressions=$PWD/build-tsan/supp.txt log_path=$PWD/build-tsan/report" \
  TFORMER=build-tsan/tformer node "${1:-tests/node/serve_clients.js}"
# A report is the server's own unless its stacks are in the model's step (OpenMP, oneDNN).
cat build-tsan/report.* 2>/dev/null | awk 'BEGIN { RS = "==================\n" }
  /WARNING: ThreadSanitizer/ { n++; if ($0 !~ /attention|ensure_acts|ensure_step|libdnnl|_omp_fn|libgomp/) k++ }
  END { printf "tsan: %d reports, %d outside the model step'"'"'s OpenMP/oneDNN teams (build-tsan/report.*)\n", n, k }'
