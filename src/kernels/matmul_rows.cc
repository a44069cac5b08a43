// out (M,OC) = x (M,C) · w (OC,C)ᵀ + bias for few rows M: the products of decode, where a step
// reads every weight once and does M multiply-adds with it. The GEMM libraries pack their
// operands for the large-M case and lose half the bandwidth here (docs/gemm.md); this kernel
// streams w straight from memory instead.
//
// Each task takes RB consecutive rows of w and all M rows of x: M·RB accumulators stay in
// registers while the RB rows stream by, so each weight is loaded once and used M times. RB
// shrinks as M grows to keep M·RB + RB + 1 within the vector registers (32 with AVX-512, 16
// with AVX2). While a block streams, it prefetches the same offsets of a block kAhead blocks
// on, which the hardware prefetcher does not foresee because each block starts a new set of
// streams (docs/gemm.md has the measurements behind RB and kAhead). At M = 1 a task is one row
// and nothing is prefetched: the weights then stream as one linear read, which the hardware
// prefetcher follows best; interleaving the cache lines of 12 rows held one Zen 4 core to
// 14 GB/s against 22 GB/s linear. With more rows of x, the reuse of each loaded weight wins.
//
// The weights may also be bf16 (the upper half of a float's bits): decode is bound by the bytes
// of weights it reads, so half the bytes is nearly twice the speed. Each bf16 is widened to a
// float by a 16-bit shift on load and the products are fp32; no bf16 instructions are needed.
//
// The instruction set is chosen at run time (cpu_rows_isa): AVX-512 (16 lanes), AVX2+FMA (8
// lanes) or portable scalar code; the functions carry target attributes, so one binary built on
// any x86-64 runs each where the CPU has it. The choice never depends on M, and every output
// sums over c in one order whatever M and RB are (one accumulator per (row of x, row of w)), so
// a sequence's logits do not depend on what it is batched with.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// GCC 12's avx512fintrin.h starts some intrinsics from a self-initialised "undefined" vector,
// which -Wuninitialized reports once inlined through a target attribute (as in matmul_q8_0.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/row_dispatch.h"

namespace tf {
namespace {

inline float to_float(float w) { return w; }
inline float to_float(uint16_t w) { return bf16_to_float(w); }

// ---- scalar: one output at a time, c in order (the same order for every M)
template <typename W>
void rows_scalar(float* out, const float* x, const W* w, const float* bias, int M, int C, int OC) {
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; ++o)
    for (int m = 0; m < M; ++m) {
      const float* xm = x + size_t(m) * C;
      const W* wr = w + size_t(o) * C;
      float s = 0;
      for (int c = 0; c < C; ++c) s = std::fma(xm[c], to_float(wr[c]), s);
      out[size_t(m) * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
}

#if defined(__x86_64__)
#define TF_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define TF_AVX2 __attribute__((target("avx2,fma")))

// Blocks ahead that a block prefetches: 1 is the next task's rows (docs/gemm.md).
constexpr int kAhead = 1;

// The sum of c's tail (C not a multiple of the lanes) after the vector part s. std::fma, not
// a * b + c: the compiler contracts (or vectorises) a plain tail differently in different
// instantiations, and a row's sum must not depend on MB or RB.
template <typename W>
inline float tail(float s, const float* xm, const W* wr, int c, int C) {
  for (; c < C; ++c) s = std::fma(xm[c], to_float(wr[c]), s);
  return s;
}

// ---- AVX-512: 16 lanes
// Rows o0 .. o0+RB-1 of out for all MB rows of x, fp32 weights (bf16: block512_bf16 below).
template <int MB, int RB>
TF_AVX512 void block512(float* out, const float* x, const float* w, const float* bias, int C, int OC, int o0,
                        bool prefetch) {
  __m512 acc[MB][RB];
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) acc[m][r] = _mm512_setzero_ps();
  const float* wr = w + size_t(o0) * C;  // RB consecutive rows of C
  int c = 0;
  for (; c + 16 <= C; c += 16) {  // one cache line of each row
    __m512 wv[RB];
    for (int r = 0; r < RB; ++r) wv[r] = _mm512_loadu_ps(wr + size_t(r) * C + c);
    if (prefetch)
      for (int r = 0; r < RB; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(wr + size_t(r + kAhead * RB) * C + c), _MM_HINT_T0);
    for (int m = 0; m < MB; ++m) {
      const __m512 xv = _mm512_loadu_ps(x + size_t(m) * C + c);
      for (int r = 0; r < RB; ++r) acc[m][r] = _mm512_fmadd_ps(xv, wv[r], acc[m][r]);
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) {
      const float s = tail(_mm512_reduce_add_ps(acc[m][r]), x + size_t(m) * C, wr + size_t(r) * C, c, C);
      out[size_t(m) * OC + o0 + r] = s + (bias ? bias[o0 + r] : 0.0f);
    }
}

// bf16 weights on AVX-512: 32 bf16 in one load are 16 floats twice over, the even ones by a
// 16-bit shift and the odd ones by masking off the low halves, two cheap instructions where
// widening (vpmovzxwd, a cross-lane shuffle) costs more: with it the bf16 kernel was bound by
// instructions rather than by memory (docs/gemm.md). x comes de-interleaved to match
// (deinterleave32): in each chunk of 32, its 16 even elements, then its 16 odd ones.
template <int MB, int RB>
TF_AVX512 void block512_bf16(float* out, const float* xp, const uint16_t* w, const float* bias, int C, int OC, int o0,
                             bool prefetch) {
  const __m512i odd = _mm512_set1_epi32(int(0xffff0000u));
  __m512 acc[MB][RB];
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) acc[m][r] = _mm512_setzero_ps();
  const uint16_t* wr = w + size_t(o0) * C;
  int c = 0;
  for (; c + 32 <= C; c += 32) {  // one cache line of each row
    __m512 we[RB], wo[RB];
    for (int r = 0; r < RB; ++r) {
      const __m512i v = _mm512_loadu_si512(wr + size_t(r) * C + c);
      we[r] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      wo[r] = _mm512_castsi512_ps(_mm512_and_si512(v, odd));
    }
    if (prefetch)
      for (int r = 0; r < RB; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(wr + size_t(r + kAhead * RB) * C + c), _MM_HINT_T0);
    for (int m = 0; m < MB; ++m) {
      const __m512 xe = _mm512_loadu_ps(xp + size_t(m) * C + c), xo = _mm512_loadu_ps(xp + size_t(m) * C + c + 16);
      for (int r = 0; r < RB; ++r) {
        acc[m][r] = _mm512_fmadd_ps(xe, we[r], acc[m][r]);
        acc[m][r] = _mm512_fmadd_ps(xo, wo[r], acc[m][r]);
      }
    }
  }
  for (int m = 0; m < MB; ++m)  // the tail of xp is x's, in order
    for (int r = 0; r < RB; ++r) {
      const float s = tail(_mm512_reduce_add_ps(acc[m][r]), xp + size_t(m) * C, wr + size_t(r) * C, c, C);
      out[size_t(m) * OC + o0 + r] = s + (bias ? bias[o0 + r] : 0.0f);
    }
}

// xp (M,C) = x with each whole chunk of 32 reordered as [its 16 even | its 16 odd elements];
// the tail (C mod 32) as it is.
void deinterleave32(float* xp, const float* x, int M, int C) {
  const int C32 = C / 32 * 32;
  for (int m = 0; m < M; ++m) {
    const float* xm = x + size_t(m) * C;
    float* pm = xp + size_t(m) * C;
    for (int c = 0; c < C32; c += 32)
      for (int i = 0; i < 16; ++i) {
        pm[c + i] = xm[c + 2 * i];
        pm[c + 16 + i] = xm[c + 2 * i + 1];
      }
    for (int c = C32; c < C; ++c) pm[c] = xm[c];
  }
}

// ---- AVX2: 8 lanes
TF_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
TF_AVX2 inline __m256 load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

TF_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int MB, int RB, typename W>
TF_AVX2 void block256(float* out, const float* x, const W* w, const float* bias, int C, int OC, int o0, bool prefetch) {
  constexpr int kLine = 64 / sizeof(W);
  __m256 acc[MB][RB];
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) acc[m][r] = _mm256_setzero_ps();
  const W* wr = w + size_t(o0) * C;
  int c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 wv[RB];
    for (int r = 0; r < RB; ++r) wv[r] = load8(wr + size_t(r) * C + c);
    if (prefetch && c % kLine == 0)
      for (int r = 0; r < RB; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(wr + size_t(r + kAhead * RB) * C + c), _MM_HINT_T0);
    for (int m = 0; m < MB; ++m) {
      const __m256 xv = _mm256_loadu_ps(x + size_t(m) * C + c);
      for (int r = 0; r < RB; ++r) acc[m][r] = _mm256_fmadd_ps(xv, wv[r], acc[m][r]);
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int r = 0; r < RB; ++r) {
      const float s = tail(hsum(acc[m][r]), x + size_t(m) * C, wr + size_t(r) * C, c, C);
      out[size_t(m) * OC + o0 + r] = s + (bias ? bias[o0 + r] : 0.0f);
    }
}

// ---- blocking, common to both
template <bool kWide, int MB, int RB, typename W>
void block(float* out, const float* x, const W* w, const float* bias, int C, int OC, int o0, bool prefetch) {
  if constexpr (kWide && std::is_same_v<W, uint16_t>)
    block512_bf16<MB, RB>(out, x, w, bias, C, OC, o0, prefetch);
  else if constexpr (kWide)
    block512<MB, RB>(out, x, w, bias, C, OC, o0, prefetch);
  else
    block256<MB, RB, W>(out, x, w, bias, C, OC, o0, prefetch);
}

// Rows of w per task: one at M = 1 (a linear read, above); else as many as the registers hold
// beside the MB·RB accumulators, RB weight vectors (2·RB for AVX-512's bf16 halves) and x's, or
// where more rows stopped paying. bf16 at M = 8 ran 1.9x slower than AVX2 with 3 rows, 1.16x
// with 2, as fast with 1; one row at M = 4 and 8 was 10-60% slower (docs/gemm.md). RB never
// changes a sum's order (one accumulator per output), so it may differ by M.
template <bool kWide, typename W>
constexpr int rows_per_task(int MB) {
  if (kWide && std::is_same_v<W, uint16_t>)
    return MB <= 1 ? 1 : MB <= 2 ? 6 : MB <= 3 ? 5 : MB <= 4 ? 4 : MB <= 6 ? 2 : 1;
  if (kWide) return MB <= 1 ? 1 : MB <= 2 ? 8 : MB <= 4 ? 6 : MB <= 6 ? 4 : 3;
  return MB <= 1 ? 1 : MB <= 2 ? 4 : MB <= 4 ? 3 : MB <= 6 ? 2 : 1;
}

template <bool kWide, int MB, typename W>
void rows(float* out, const float* x, const W* w, const float* bias, int C, int OC) {
  constexpr int RB = rows_per_task<kWide, W>(MB);
  const int nblk = OC / RB;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < nblk; ++b) block<kWide, MB, RB, W>(out, x, w, bias, C, OC, b * RB, MB > 1 && b + kAhead < nblk);
  for (int o = nblk * RB; o < OC; ++o) block<kWide, MB, 1, W>(out, x, w, bias, C, OC, o, false);
}

// One row of w (o) against rows [m0, m0 + mb) of x, mb <= 8.
template <bool kWide, typename W>
void block_of(float* out, const float* x, const W* w, const float* bias, int C, int OC, int o, int mb, bool prefetch) {
  auto run = [&]<int MB>() { block<kWide, MB, 1, W>(out, x, w, bias, C, OC, o, prefetch); };
  with_rows(mb, run);
}

// More than 8 rows (a server's batch): each task takes one row of w and applies it to every
// block of 8 rows of x in turn, so w still streams from memory once per product (the row
// stays in L1 between the blocks, the M·C floats of x in cache). Each output's sum runs in the
// same order as in rows<MB>, so a row's result does not depend on M.
template <bool kWide, typename W>
void rows_wide(float* out, const float* x, const W* w, const float* bias, int M, int C, int OC) {
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; ++o)
    for (int m0 = 0; m0 < M; m0 += 8)
      block_of<kWide>(out + size_t(m0) * OC, x + size_t(m0) * C, w, bias, C, OC, o, M - m0 < 8 ? M - m0 : 8,
                      m0 == 0 && o + kAhead < OC);
}

template <bool kWide, typename W>
void rows_any(float* out, const float* inp, const W* w, const float* bias, int M, int C, int OC) {
  if (M < 1 || M > 8) return rows_wide<kWide, W>(out, inp, w, bias, M, C, OC);  // (none, or blocks of 8)
  auto run = [&]<int MB>() { rows<kWide, MB, W>(out, inp, w, bias, C, OC); };
  with_rows(M, run);
}
#endif

template <typename W>
void rows_isa(RowIsa isa, float* out, const float* inp, const W* w, const float* bias, int M, int C, int OC) {
  if (int(isa) > int(cpu_rows_isa())) isa = cpu_rows_isa();
#if defined(__x86_64__)
  if (isa == RowIsa::kAvx512 && std::is_same_v<W, uint16_t>) {
    // x in block512_bf16's order; a buffer per calling thread, reused across steps.
    thread_local std::vector<float> xp;
    xp.resize(size_t(M) * C);
    deinterleave32(xp.data(), inp, M, C);
    return rows_any<true>(out, xp.data(), w, bias, M, C, OC);
  }
  if (isa == RowIsa::kAvx512) return rows_any<true>(out, inp, w, bias, M, C, OC);
  if (isa == RowIsa::kAvx2) return rows_any<false>(out, inp, w, bias, M, C, OC);
#endif
  rows_scalar(out, inp, w, bias, M, C, OC);
}

}  // namespace

RowIsa max_isa_from_env() {
  static const RowIsa cap = [] {
    const char* v = std::getenv("TFORMER_MAX_ISA");
    if (!v || !*v) return RowIsa::kAvx512;
    for (RowIsa isa : {RowIsa::kAvx512, RowIsa::kAvx2, RowIsa::kScalar})
      if (std::strcmp(v, row_isa_name(isa)) == 0) return isa;
    throw Error(std::string("TFORMER_MAX_ISA=") + v + ": expected avx512, avx2 or scalar");
  }();
  return cap;
}

RowIsa cpu_rows_isa() {
#if defined(__x86_64__)
  static const RowIsa isa = [] {
    if (__builtin_cpu_supports("avx512f")) return RowIsa::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return RowIsa::kAvx2;
    return RowIsa::kScalar;
  }();
  return std::min(isa, max_isa_from_env());
#else
  return RowIsa::kScalar;
#endif
}

const char* row_isa_name(RowIsa isa) {
  switch (isa) {
    case RowIsa::kAvx512:
      return "avx512";
    case RowIsa::kAvx2:
      return "avx2";
    case RowIsa::kScalar:
      break;
  }
  return "scalar";
}

void matmul_rows_isa(RowIsa isa, float* out, const float* inp, const float* w, const float* bias, int M, int C,
                     int OC) {
  rows_isa(isa, out, inp, w, bias, M, C, OC);
}

void matmul_rows_bf16_isa(RowIsa isa, float* out, const float* inp, const uint16_t* w, const float* bias, int M, int C,
                          int OC) {
  rows_isa(isa, out, inp, w, bias, M, C, OC);
}

void matmul_rows(float* out, const float* inp, const float* w, const float* bias, int M, int C, int OC) {
  rows_isa(cpu_rows_isa(), out, inp, w, bias, M, C, OC);
}

void matmul_rows_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int M, int C, int OC) {
  rows_isa(cpu_rows_isa(), out, inp, w, bias, M, C, OC);
}

}  // namespace tf
