#!/usr/bin/env bash
# oneDNN vs OpenBLAS vs BLIS at tformer's GEMM shapes, 2 threads (docs/gemm.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas-openmp-dev libblis-openmp-dev >/dev/null
lib=/usr/lib/x86_64-linux-gnu inc=/usr/include/x86_64-linux-gnu
mkdir -p build/gemm_compare
g++ -O2 -fopenmp bench/gemm_cblas.cc -I$inc/openblas-openmp -L$lib/openblas-openmp -lopenblas \
  -Wl,-rpath,$lib/openblas-openmp -o build/gemm_compare/openblas
g++ -O2 -fopenmp bench/gemm_cblas.cc -I$inc/blis-openmp -L$lib/blis-openmp -lblis \
  -Wl,-rpath,$lib/blis-openmp -o build/gemm_compare/blis
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} BLIS_NUM_THREADS=${OMP_NUM_THREADS:-2}
build/gemm_compare/openblas openblas
build/gemm_compare/blis blis
build/bench_gemm --benchmark_counters_tabular=true
