// out (M,OC) = x (M,C) · w (OC,C)ᵀ + bias for M = 1..8 rows: the products of decode, where a
// step reads every weight once and does M multiply-adds with it. The GEMM libraries pack
// their operands for the large-M case and lose half the bandwidth here (docs/gemm.md); this
// kernel streams w straight from memory instead.
//
// Each task takes RB consecutive rows of w and all M rows of x: M·RB accumulators of 8 lanes
// stay in registers while the RB rows stream by, so each weight is loaded once and used M
// times. RB shrinks as M grows to keep M·RB + RB + 1 within AVX2's 16 vector registers. While
// a block streams, it prefetches the same offsets of the next block's rows (RB·C floats
// ahead), which the hardware prefetcher does not foresee because each block starts a new set
// of streams.
//
// The weights may also be bf16 (the upper half of a float's bits): decode is bound by the bytes
// of weights it reads, so half the bytes is nearly twice the speed. Each bf16 is widened to a
// float by a 16-bit shift on load and the products are fp32; AVX2 needs no bf16 instructions
// for that.
#include <cmath>
#include <cstddef>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "kernels/kernels.h"

namespace tf {
namespace {

inline float to_float(float w) { return w; }
inline float to_float(uint16_t w) { return bf16_to_float(w); }

#if defined(__AVX2__) && defined(__FMA__)
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Rows o0 .. o0+RB-1 of out for all MB rows of x.
template <int MB, int RB, typename W>
void block(float* out, const float* x, const W* w, const float* bias, int C, int OC, int o0, bool prefetch) {
  constexpr int kLine = 64 / sizeof(W);  // weights per cache line
  __m256 acc[MB][RB];
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) acc[m][r] = _mm256_setzero_ps();
  const W* wr = w + size_t(o0) * C;  // RB consecutive rows of C
  int c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 wv[RB];
    for (int r = 0; r < RB; ++r) wv[r] = load8(wr + size_t(r) * C + c);
    if (prefetch && c % kLine == 0)  // one cache line per row
      for (int r = 0; r < RB; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(wr + size_t(r + RB) * C + c), _MM_HINT_T0);
    for (int m = 0; m < MB; ++m) {
      const __m256 xv = _mm256_loadu_ps(x + size_t(m) * C + c);
      for (int r = 0; r < RB; ++r) acc[m][r] = _mm256_fmadd_ps(xv, wv[r], acc[m][r]);
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) {
      float s = hsum(acc[m][r]);
      // std::fma, not a * b + s: the compiler may contract the latter in one instantiation of
      // this template and not in another, and a row's bits must not depend on MB (the batch).
      for (int cc = c; cc < C; ++cc) s = std::fma(x[size_t(m) * C + cc], to_float(wr[size_t(r) * C + cc]), s);
      out[size_t(m) * OC + o0 + r] = s + (bias ? bias[o0 + r] : 0.0f);
    }
}
#else
// Portable form for CPUs without AVX2/FMA: the same blocking, left to the compiler.
template <int MB, int RB, typename W>
void block(float* out, const float* x, const W* w, const float* bias, int C, int OC, int o0, bool) {
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) {
      const W* wr = w + size_t(o0 + r) * C;
      const float* xm = x + size_t(m) * C;
      float s = 0;
      for (int c = 0; c < C; ++c) s += xm[c] * to_float(wr[c]);
      out[size_t(m) * OC + o0 + r] = s + (bias ? bias[o0 + r] : 0.0f);
    }
}
#endif

template <int MB, typename W>
void rows(float* out, const float* x, const W* w, const float* bias, int C, int OC) {
  constexpr int RB = MB <= 2 ? 4 : MB <= 4 ? 3 : MB <= 6 ? 2 : 1;
  const int nblk = OC / RB;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < nblk; ++b) block<MB, RB, W>(out, x, w, bias, C, OC, b * RB, b + 1 < nblk);
  for (int o = nblk * RB; o < OC; ++o) block<MB, 1, W>(out, x, w, bias, C, OC, o, false);
}

template <typename W>
void rows_any(float* out, const float* inp, const W* w, const float* bias, int M, int C, int OC) {
  switch (M) {
    case 1:
      return rows<1>(out, inp, w, bias, C, OC);
    case 2:
      return rows<2>(out, inp, w, bias, C, OC);
    case 3:
      return rows<3>(out, inp, w, bias, C, OC);
    case 4:
      return rows<4>(out, inp, w, bias, C, OC);
    case 5:
      return rows<5>(out, inp, w, bias, C, OC);
    case 6:
      return rows<6>(out, inp, w, bias, C, OC);
    case 7:
      return rows<7>(out, inp, w, bias, C, OC);
    case 8:
      return rows<8>(out, inp, w, bias, C, OC);
    default:  // more rows: blocks of 8 (each block streams w again)
      for (int m0 = 0; m0 < M; m0 += 8) {
        const int mb = M - m0 < 8 ? M - m0 : 8;
        rows_any(out + size_t(m0) * OC, inp + size_t(m0) * C, w, bias, mb, C, OC);
      }
  }
}

}  // namespace

void matmul_rows(float* out, const float* inp, const float* w, const float* bias, int M, int C, int OC) {
  rows_any(out, inp, w, bias, M, C, OC);
}

void matmul_rows_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int M, int C, int OC) {
  rows_any(out, inp, w, bias, M, C, OC);
}

}  // namespace tf
