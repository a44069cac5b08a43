// Kernel timings at the training shapes of the presets (B·T rows), to see where a step goes.
//   build/bench_ops
#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/kernels.h"

using namespace tf;

static void BM_attention_fwd(benchmark::State& st) {
  const int B = int(st.range(0)), T = int(st.range(1)), C = int(st.range(2)), NH = int(st.range(3));
  std::vector<float> qkv(size_t(B) * T * 3 * C, 0.01f), out(size_t(B) * T * C), att(size_t(B) * NH * T * T);
  for (auto _ : st) attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  st.counters["GFLOP/s"] = benchmark::Counter(
      4.0 * B * NH * T * T * (C / NH), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
static void BM_attention_bwd(benchmark::State& st) {
  const int B = int(st.range(0)), T = int(st.range(1)), C = int(st.range(2)), NH = int(st.range(3));
  std::vector<float> qkv(size_t(B) * T * 3 * C, 0.01f), out(size_t(B) * T * C), att(size_t(B) * NH * T * T);
  std::vector<float> dqkv(qkv.size()), datt(att.size()), dout(out.size(), 0.1f);
  attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  for (auto _ : st) attention_backward(dqkv.data(), datt.data(), dout.data(), qkv.data(), att.data(), B, T, C, NH);
  st.counters["GFLOP/s"] = benchmark::Counter(
      8.0 * B * NH * T * T * (C / NH), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
static void BM_matmul_fwd(benchmark::State& st) {
  const int N = int(st.range(0)), C = int(st.range(1)), OC = int(st.range(2));
  std::vector<float> x(size_t(N) * C, 0.01f), w(size_t(OC) * C, 0.01f), b(OC, 0.1f), out(size_t(N) * OC);
  for (auto _ : st) tf::matmul_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC);
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * N * C * OC, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
static void BM_matmul_bwd(benchmark::State& st) {
  const int N = int(st.range(0)), C = int(st.range(1)), OC = int(st.range(2));
  std::vector<float> x(size_t(N) * C, 0.01f), w(size_t(OC) * C, 0.01f), dout(size_t(N) * OC, 0.01f);
  std::vector<float> dx(x.size()), dw(w.size()), db(OC);
  for (auto _ : st) tf::matmul_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C, OC);
  st.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * N * C * OC, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

BENCHMARK(BM_attention_fwd)->Args({16, 128, 128, 4})->Args({8, 256, 384, 6})->UseRealTime();
BENCHMARK(BM_attention_bwd)->Args({16, 128, 128, 4})->Args({8, 256, 384, 6})->UseRealTime();
BENCHMARK(BM_matmul_fwd)
    ->Args({2048, 128, 384})
    ->Args({2048, 128, 512})
    ->Args({2048, 512, 128})
    ->Args({2048, 128, 256})
    ->Args({2048, 384, 1536})
    ->UseRealTime();
BENCHMARK(BM_matmul_bwd)
    ->Args({2048, 128, 384})
    ->Args({2048, 128, 512})
    ->Args({2048, 512, 128})
    ->Args({2048, 128, 256})
    ->Args({2048, 384, 1536})
    ->UseRealTime();
BENCHMARK_MAIN();
