// GEMM throughput at the shapes tformer runs: out (M,N) = x (M,K) · W (N,K)ᵀ.
// M = 1 and 4 are decode (batch 1, beam 4), 512 prefill, 1024/4096 training rows.
// BM_decode_pass: every product of one gpt2 decode step (12 layers x 4 matrices + the LM
// head, 498 MB of fp32 weights, more than any cache) at M rows, through oneDNN's sgemm
// (kind 0), the row kernel (1), or the row kernel on bf16 weights (2); GB/s counts the weight
// bytes streamed.
//   build/bench_gemm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

static void BM_gemm(benchmark::State& state) {
  const int M = int(state.range(0)), N = int(state.range(1)), K = int(state.range(2));
  std::vector<float> a(size_t(M) * K, 0.01f), w(size_t(N) * K, 0.02f), c(size_t(M) * N);
  for (auto _ : state) {
    tf::gemm(false, true, M, N, K, 1.0f, a.data(), K, w.data(), K, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_gemm)
    ->Args({1, 768, 768})
    ->Args({1, 3072, 768})
    ->Args({1, 50257, 768})
    ->Args({4, 3072, 768})
    ->Args({512, 768, 768})
    ->Args({512, 3072, 768})
    ->Args({1024, 2304, 768})
    ->Args({4096, 768, 768})
    ->Args({2048, 384, 384})
    ->Args({2048, 128, 128})
    ->UseRealTime();

static void BM_decode_pass(benchmark::State& state) {
  const int M = int(state.range(0)), kind = int(state.range(1)), C = 768;
  struct Shape {
    int in, out;
  };
  std::vector<Shape> shapes;
  for (int l = 0; l < 12; ++l)
    for (Shape s : {Shape{C, 3 * C}, Shape{C, C}, Shape{C, 4 * C}, Shape{4 * C, C}}) shapes.push_back(s);
  shapes.push_back({C, 50257});
  std::vector<std::vector<float>> w;
  std::vector<std::vector<uint16_t>> wh;
  size_t bytes = 0;
  for (Shape s : shapes) {
    const size_t n = size_t(s.in) * s.out;
    if (kind == 2)
      wh.emplace_back(n, tf::float_to_bf16(0.01f));
    else
      w.emplace_back(n, 0.01f);
    bytes += n * (kind == 2 ? 2 : 4);
  }
  std::vector<float> x(size_t(M) * 4 * C, 0.5f), out(size_t(M) * 50257);
  for (auto _ : state) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape s = shapes[i];
      if (kind == 0)
        tf::gemm(false, true, M, s.out, s.in, 1.0f, x.data(), s.in, w[i].data(), s.in, 0.0f, out.data(), s.out);
      else if (kind == 1)
        tf::matmul_rows(out.data(), x.data(), w[i].data(), nullptr, M, s.in, s.out);
      else
        tf::matmul_rows_bf16(out.data(), x.data(), wh[i].data(), nullptr, M, s.in, s.out);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(double(bytes), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_decode_pass)
    ->ArgNames({"M", "kind"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Args({4, 2})
    ->Args({8, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
