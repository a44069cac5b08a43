// out (M,OC) = x (M,C) · wᵀ + bias with w (OC,C) in Q8_0 blocks (core/q8_0.h): decode's
// products on int8 weights. Decode is bound by the bytes of weights it streams, and Q8_0 is
// 34 bytes per 32 weights against fp32's 128.
//
// Each block of 32 quants is widened to fp32 and multiplied by its scale (d·q is exact in
// fp32: an 11-bit d times an 8-bit q), then x is multiplied in with fp32 FMAs. So the kernel
// computes x · (the dequantized weights), the very function the parallel pass computes with
// the dequantized floats in params: prefill and step differ by fp32 summation order only. The
// other way, ggml's q8_0×q8_0 dot (quantize x per 32 to int8, VNNI's vpdpbusd for the
// products), rounds the activations too: an error the parallel pass does not make. Measured on
// GPT-2 124M shapes it was no faster either, since decode waits on memory, not on the ALUs
// (see matmul_rows_q8_0_isa's note in kernels.h).
//
// Blocking as matmul_rows.cc: a task takes RB consecutive rows of w and all M rows of x, the
// M·RB accumulators stay in registers, and each widened block serves the M rows. Every row's
// sum runs over c in the same order whatever M and RB are (one accumulator per (row of x, row
// of w)), so a sequence's logits do not depend on what it is batched with.
//
// The instruction set is chosen at run time (cpu_q8_0_isa): AVX-512 (16 lanes), AVX2+FMA (8
// lanes) or portable scalar code; the functions carry target attributes, so one binary built
// on any x86-64 runs all three where the CPU has them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

// GCC 12's avx512fintrin.h starts some intrinsics from a self-initialised "undefined" vector
// (__m512i __Y = __Y;), which -Wuninitialized reports once they are inlined into a function
// built for AVX-512 through a target attribute: a false positive (the lanes are all written).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "core/error.h"
#include "core/half.h"
#include "kernels/kernels.h"
#include "kernels/row_dispatch.h"

namespace tf {
namespace {

// ---- scalar: the same order of operations, one row of w at a time
void rows_scalar(float* out, const float* x, const BlockQ8_0* w, const float* bias, int M, int C, int OC) {
  const int NB = C / kQ8Block;
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; ++o)
    for (int m = 0; m < M; ++m) {
      const float* xm = x + size_t(m) * C;
      const BlockQ8_0* wr = w + size_t(o) * NB;
      float s = 0;
      for (int b = 0; b < NB; ++b) {
        const float d = half_to_float(wr[b].d);
        for (int i = 0; i < kQ8Block; ++i) s += xm[b * kQ8Block + i] * (d * float(wr[b].qs[i]));
      }
      out[size_t(m) * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
}

#if defined(__x86_64__)
#define TF_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
#define TF_AVX2 __attribute__((target("avx2,fma,f16c")))

// ---- AVX-512: a block is two vectors of 16
template <int MB, int RB>
TF_AVX512 void block512(float* out, const float* x, const BlockQ8_0* w, const float* bias, int C, int OC, int o0,
                        bool prefetch) {
  const int NB = C / kQ8Block;
  __m512 acc[MB][RB];
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) acc[m][r] = _mm512_setzero_ps();
  const BlockQ8_0* wr = w + size_t(o0) * NB;  // RB consecutive rows of NB blocks
  for (int b = 0; b < NB; ++b) {
    __m512 lo[RB], hi[RB];
    for (int r = 0; r < RB; ++r) {
      const BlockQ8_0& blk = wr[size_t(r) * NB + b];
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(blk.d));
      const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
      const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs + 16));
      lo[r] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
      hi[r] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
      // The next task's rows at this offset: the hardware prefetcher does not foresee them.
      if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(&wr[size_t(r + RB) * NB + b]), _MM_HINT_T0);
    }
    for (int m = 0; m < MB; ++m) {
      const float* xb = x + size_t(m) * C + b * kQ8Block;
      const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
      for (int r = 0; r < RB; ++r) {
        acc[m][r] = _mm512_fmadd_ps(x0, lo[r], acc[m][r]);
        acc[m][r] = _mm512_fmadd_ps(x1, hi[r], acc[m][r]);
      }
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r)
      out[size_t(m) * OC + o0 + r] = _mm512_reduce_add_ps(acc[m][r]) + (bias ? bias[o0 + r] : 0.0f);
}

// ---- AVX2: a block is four vectors of 8
TF_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int MB, int RB>
TF_AVX2 void block256(float* out, const float* x, const BlockQ8_0* w, const float* bias, int C, int OC, int o0,
                      bool prefetch) {
  const int NB = C / kQ8Block;
  __m256 acc[MB][RB];
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) acc[m][r] = _mm256_setzero_ps();
  const BlockQ8_0* wr = w + size_t(o0) * NB;
  for (int b = 0; b < NB; ++b) {
    __m256 d[RB];
    for (int r = 0; r < RB; ++r) {
      d[r] = _mm256_set1_ps(_cvtsh_ss(wr[size_t(r) * NB + b].d));
      if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(&wr[size_t(r + RB) * NB + b]), _MM_HINT_T0);
    }
    for (int k = 0; k < kQ8Block; k += 8) {
      __m256 wv[RB];
      for (int r = 0; r < RB; ++r) {
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(wr[size_t(r) * NB + b].qs + k));
        wv[r] = _mm256_mul_ps(d[r], _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
      }
      for (int m = 0; m < MB; ++m) {
        const __m256 xv = _mm256_loadu_ps(x + size_t(m) * C + b * kQ8Block + k);
        for (int r = 0; r < RB; ++r) acc[m][r] = _mm256_fmadd_ps(xv, wv[r], acc[m][r]);
      }
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) out[size_t(m) * OC + o0 + r] = hsum256(acc[m][r]) + (bias ? bias[o0 + r] : 0.0f);
}

// RB rows of w per task: one at M = 1, where a linear read of the weights streams fastest
// (matmul_rows.cc); else as many as the registers hold beside the M·RB accumulators (32
// vectors with AVX-512, 16 with AVX2). Every task's rows are independent, so OpenMP splits them.
template <int MB>
void rows512(float* out, const float* x, const BlockQ8_0* w, const float* bias, int C, int OC) {
  constexpr int RB = MB <= 1 ? 1 : MB <= 4 ? 4 : 2;
  const int nblk = OC / RB;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < nblk; ++b) block512<MB, RB>(out, x, w, bias, C, OC, b * RB, MB > 1 && b + 1 < nblk);
  for (int o = nblk * RB; o < OC; ++o) block512<MB, 1>(out, x, w, bias, C, OC, o, false);
}

template <int MB>
void rows256(float* out, const float* x, const BlockQ8_0* w, const float* bias, int C, int OC) {
  constexpr int RB = MB <= 1 ? 1 : MB <= 2 ? 3 : MB <= 4 ? 2 : 1;
  const int nblk = OC / RB;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < nblk; ++b) block256<MB, RB>(out, x, w, bias, C, OC, b * RB, MB > 1 && b + 1 < nblk);
  for (int o = nblk * RB; o < OC; ++o) block256<MB, 1>(out, x, w, bias, C, OC, o, false);
}

template <bool kWide>
void rows_any(float* out, const float* x, const BlockQ8_0* w, const float* bias, int M, int C, int OC) {
  auto run = [&]<int MB>() {
    if constexpr (kWide)
      rows512<MB>(out, x, w, bias, C, OC);
    else
      rows256<MB>(out, x, w, bias, C, OC);
  };
  if (M < 1 || M > 8) {  // no rows, or more: blocks of 8, each streaming w again
    for (int m0 = 0; m0 < M; m0 += 8)
      rows_any<kWide>(out + size_t(m0) * OC, x + size_t(m0) * C, w, bias, M - m0 < 8 ? M - m0 : 8, C, OC);
    return;
  }
  with_rows(M, run);
}
#endif

}  // namespace

Q8Isa cpu_q8_0_isa() {
#if defined(__x86_64__)
  static const Q8Isa isa = [] {
    // F16C (the scale's widening) from cpuid: clang's __builtin_cpu_supports does not know it.
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_F16C)) return Q8Isa::kScalar;
    if (__builtin_cpu_supports("avx512f")) return Q8Isa::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Q8Isa::kAvx2;
    return Q8Isa::kScalar;
  }();
  return std::min(isa, max_isa_from_env());
#else
  return Q8Isa::kScalar;
#endif
}

void matmul_rows_q8_0_isa(Q8Isa isa, float* out, const float* inp, const BlockQ8_0* w, const float* bias, int M, int C,
                          int OC) {
  if (C % kQ8Block != 0) throw Error("matmul_rows_q8_0: C = " + std::to_string(C) + " is not a multiple of 32");
  if (int(isa) > int(cpu_q8_0_isa())) isa = cpu_q8_0_isa();
#if defined(__x86_64__)
  if (isa == Q8Isa::kAvx512) return rows_any<true>(out, inp, w, bias, M, C, OC);
  if (isa == Q8Isa::kAvx2) return rows_any<false>(out, inp, w, bias, M, C, OC);
#endif
  rows_scalar(out, inp, w, bias, M, C, OC);
}

void matmul_rows_q8_0(float* out, const float* inp, const BlockQ8_0* w, const float* bias, int M, int C, int OC) {
  matmul_rows_q8_0_isa(cpu_q8_0_isa(), out, inp, w, bias, M, C, OC);
}

void matmul_rows_q8_0_naive(float* out, const float* inp, const BlockQ8_0* w, const float* bias, int M, int C, int OC) {
  const int NB = C / kQ8Block;
  for (int m = 0; m < M; ++m)
    for (int o = 0; o < OC; ++o) {
      double s = bias ? bias[o] : 0.0;
      for (int b = 0; b < NB; ++b) {
        const BlockQ8_0& blk = w[size_t(o) * NB + b];
        double dot = 0;
        for (int i = 0; i < kQ8Block; ++i) dot += double(inp[size_t(m) * C + b * kQ8Block + i]) * blk.qs[i];
        s += double(half_to_float(blk.d)) * dot;
      }
      out[size_t(m) * OC + o] = float(s);
    }
}

}  // namespace tf
