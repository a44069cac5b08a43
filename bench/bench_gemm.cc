// GEMM throughput at the shapes tformer runs: out (M,N) = x (M,K) · W (N,K)ᵀ.
// M = 1 and 4 are decode (batch 1, beam 4), 512 prefill, 1024/4096 training rows.
// BM_decode_pass: every product of one gpt2 decode step (12 layers x 4 matrices + the LM
// head, 498 MB of fp32 weights, more than any cache) at M rows, through oneDNN's sgemm
// (kind 0), the row kernel (1), the row kernel on bf16 weights (2), on Q8_0 weights (3: the
// widest instruction set, 4: its AVX2 path), or the alternative Q8_0 kernel measured against
// it (5: ggml's q8_0×q8_0 dot, x quantized per 32 and VNNI's vpdpbusd, below); 6 and 7 are
// kinds 1 and 2 on the AVX2 path (1 and 2 take the widest the CPU has). GB/s counts the
// weight bytes streamed.
//   build/bench_gemm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"

// ggml's way for Q8_0 (its ggml_vec_dot_q8_0_q8_0): each row of x quantized to Q8_0 too, then
// per block of 32 one vpdpbusd (u8·s8 pairs summed into 8 int32, so |x| against w with x's
// sign moved onto w) and one FMA by d_w·d_x. Kept here, not in the library: it was measured
// against matmul_rows_q8_0 (kind 3) and rounds the activations, which the parallel pass does
// not (see src/kernels/matmul_q8_0.cc).
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx512vnni,avx2,fma,f16c"))) static void q8_rows_vnni(
    float* out, const std::vector<tf::BlockQ8_0>& xq, const tf::BlockQ8_0* w, int M, int C, int OC) {
  const int NB = C / 32;
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; ++o)
    for (int m = 0; m < M; ++m) {
      const tf::BlockQ8_0* wr = w + size_t(o) * NB;
      const tf::BlockQ8_0* xr = xq.data() + size_t(m) * NB;
      __m256 acc = _mm256_setzero_ps();
      for (int b = 0; b < NB; ++b) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[b].qs));
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[b].qs));
        const __m256i dot =
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(xv, xv), _mm256_sign_epi8(wv, xv));
        const float d = _cvtsh_ss(wr[b].d) * _cvtsh_ss(xr[b].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(d), acc);
      }
      __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
      s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
      out[size_t(m) * OC + o] = _mm_cvtss_f32(_mm_add_ss(s4, _mm_movehdup_ps(s4)));
    }
}
#endif

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
  std::vector<std::vector<tf::BlockQ8_0>> wq;
  size_t bytes = 0;
  for (Shape s : shapes) {
    const size_t n = size_t(s.in) * s.out;
    if (kind == 2 || kind == 7) {
      wh.emplace_back(n, tf::float_to_bf16(0.01f));
      bytes += n * 2;
    } else if (kind >= 3 && kind <= 5) {
      std::vector<float> f(n);
      for (size_t i = 0; i < n; ++i) f[i] = 0.01f * float(int(i % 61) - 30);
      wq.emplace_back(n / 32);
      tf::quantize_row_q8_0(wq.back().data(), f.data(), n);
      bytes += n / 32 * sizeof(tf::BlockQ8_0);
    } else {
      w.emplace_back(n, 0.01f);
      bytes += n * 4;
    }
  }
#if defined(__x86_64__)
  if (kind == 5 && !__builtin_cpu_supports("avx512vnni")) return state.SkipWithError("no AVX512-VNNI");
#else
  if (kind == 5) return state.SkipWithError("x86-64 only");
#endif
  std::vector<float> x(size_t(M) * 4 * C, 0.5f), out(size_t(M) * 50257);
  std::vector<tf::BlockQ8_0> xq(x.size() / 32);
  for (auto _ : state) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape s = shapes[i];
      if (kind == 5) {  // the activations' quantization is part of the cost
#if defined(__x86_64__)
        for (int m = 0; m < M; ++m)
          tf::quantize_row_q8_0(xq.data() + size_t(m) * s.in / 32, x.data() + size_t(m) * s.in, s.in);
        q8_rows_vnni(out.data(), xq, wq[i].data(), M, s.in, s.out);
#endif
      } else if (kind == 6)
        tf::matmul_rows_isa(tf::RowIsa::kAvx2, out.data(), x.data(), w[i].data(), nullptr, M, s.in, s.out);
      else if (kind == 7)
        tf::matmul_rows_bf16_isa(tf::RowIsa::kAvx2, out.data(), x.data(), wh[i].data(), nullptr, M, s.in, s.out);
      else if (kind >= 3)
        tf::matmul_rows_q8_0_isa(kind == 3 ? tf::Q8Isa::kAvx512 : tf::Q8Isa::kAvx2, out.data(), x.data(), wq[i].data(),
                                 nullptr, M, s.in, s.out);
      else if (kind == 0)
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
    ->Args({1, 3})
    ->Args({1, 4})
    ->Args({1, 5})
    ->Args({4, 3})
    ->Args({4, 5})
    ->Args({1, 6})
    ->Args({1, 7})
    ->Args({4, 6})
    ->Args({4, 7})
    ->Args({8, 6})
    ->Args({8, 2})
    ->Args({8, 7})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
