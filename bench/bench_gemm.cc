// GEMM throughput at the shapes tformer runs: out (M,N) = x (M,K) · W (N,K)ᵀ.
// M = 1 and 4 are decode (batch 1, beam 4), 512 prefill, 1024/4096 training rows.
//   build/bench_gemm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/kernels.h"

static void BM_gemm(benchmark::State& state) {
  const int M = int(state.range(0)), N = int(state.range(1)), K = int(state.range(2));
  std::vector<float> a(size_t(M) * K, 0.01f), w(size_t(N) * K, 0.02f), c(size_t(M) * N);
  for (auto _ : state) {
    tf::gemm(false, true, M, N, K, 1.0f, a.data(), K, w.data(), K, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_gemm)
    ->Args({1, 768, 768})->Args({1, 3072, 768})->Args({1, 50257, 768})->Args({4, 3072, 768})
    ->Args({512, 768, 768})->Args({512, 3072, 768})->Args({1024, 2304, 768})
    ->Args({4096, 768, 768})->Args({2048, 384, 384})->Args({2048, 128, 128})
    ->UseRealTime();
BENCHMARK_MAIN();
