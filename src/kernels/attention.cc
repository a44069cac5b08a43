#include <algorithm>
#include <cmath>

#include "kernels/fast_math.h"
#include "kernels/kernels.h"

namespace tf {

namespace {
// Causal blocks: query rows [r0, r0 + kBlock) attend to keys [0, r0 + kBlock) only, so the
// products skip the blocks above the diagonal (at T = 128, a quarter of the work; at 256,
// 3/8) and sgemm still sees panels large enough to run near its peak.
constexpr int kBlock = 64;

// row[0..n) = softmax(row[0..n)), vectorised (max, exp-and-sum, scale as three simd passes).
void softmax_in_place(float* __restrict row, int n) {
  float mx = row[0];
#pragma omp simd reduction(max : mx)
  for (int s = 0; s < n; ++s) mx = std::max(mx, row[s]);
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int s = 0; s < n; ++s) {
    const float e = exp_approx(row[s] - mx);
    row[s] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int s = 0; s < n; ++s) row[s] *= inv;
}

// d[0..n) = p ⊙ (d − Σ p⊙d): the softmax backward, d the gradient of the probabilities p.
void softmax_backward_in_place(float* __restrict d, const float* __restrict p, int n) {
  float dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int s = 0; s < n; ++s) dot += p[s] * d[s];
#pragma omp simd
  for (int s = 0; s < n; ++s) d[s] = p[s] * (d[s] - dot);
}
}  // namespace

// Per (batch, head): S = Q·Kᵀ/sqrt(HS) and Y = P·V through the GEMM library, block row by
// block row, the causal softmax in between. Head h reads K/V head h / (NH/NKV).
void attention_gqa_forward(float* out, float* att, const float* qkv, int B, int T, int NH, int NKV, int HS) {
  const int QKV = (NH + 2 * NKV) * HS, D = NH * HS, G = NH / NKV;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    const int b = bh / NH, h = bh % NH, kvh = h / G;
    const float* row0 = qkv + size_t(b) * T * QKV;
    const float* q = row0 + h * HS;
    const float* k = row0 + D + kvh * HS;
    const float* v = row0 + D + NKV * HS + kvh * HS;
    float* p = att + size_t(bh) * T * T;
    float* y = out + size_t(b) * T * D + h * HS;
    for (int r0 = 0; r0 < T; r0 += kBlock) {
      const int r1 = std::min(T, r0 + kBlock), rows = r1 - r0;
      float* pb = p + size_t(r0) * T;
      gemm(false, true, rows, r1, HS, scale, q + size_t(r0) * QKV, QKV, k, QKV, 0.0f, pb, T);
      for (int t = r0; t < r1; ++t) {
        float* row = p + size_t(t) * T;
        softmax_in_place(row, t + 1);
        for (int s = t + 1; s < T; ++s) row[s] = 0.0f;
      }
      gemm(false, false, rows, HS, r1, 1.0f, pb, T, v, QKV, 0.0f, y + size_t(r0) * D, D);
    }
  }
}

// Parallel over (batch, K/V head): the G query heads that share a K/V head add their dK and dV
// into it one after another (no two threads write one K/V head).
void attention_gqa_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att, int B,
                            int T, int NH, int NKV, int HS) {
  const int QKV = (NH + 2 * NKV) * HS, D = NH * HS, G = NH / NKV;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for schedule(static)
  for (int bk = 0; bk < B * NKV; ++bk) {
    const int b = bk / NKV, kvh = bk % NKV;
    const float* row0 = qkv + size_t(b) * T * QKV;
    const float* k = row0 + D + kvh * HS;
    const float* v = row0 + D + NKV * HS + kvh * HS;
    float* drow0 = dqkv + size_t(b) * T * QKV;
    float* dk = drow0 + D + kvh * HS;
    float* dv = drow0 + D + NKV * HS + kvh * HS;
    for (int g = 0; g < G; ++g) {
      const int h = kvh * G + g;
      const float beta = g == 0 ? 0.0f : 1.0f;  // the first head writes dK/dV, the others add
      const float* q = row0 + h * HS;
      float* dq = drow0 + h * HS;
      const float* p = att + (size_t(b) * NH + h) * T * T;
      float* dp = datt + (size_t(b) * NH + h) * T * T;
      const float* dy = dout + size_t(b) * T * D + h * HS;
      // By query block: dP = dY·Vᵀ over the keys the block sees, then the softmax backward
      // dS = P ⊙ (dP − Σ P⊙dP), then dQ = dS·K·scale.
      for (int r0 = 0; r0 < T; r0 += kBlock) {
        const int r1 = std::min(T, r0 + kBlock), rows = r1 - r0;
        gemm(false, true, rows, r1, HS, 1.0f, dy + size_t(r0) * D, D, v, QKV, 0.0f, dp + size_t(r0) * T, T);
        for (int t = r0; t < r1; ++t) {
          const float* pr = p + size_t(t) * T;
          float* dr = dp + size_t(t) * T;
          softmax_backward_in_place(dr, pr, t + 1);
          for (int s = t + 1; s < r1; ++s) dr[s] = 0.0f;
        }
        gemm(false, false, rows, HS, r1, scale, dp + size_t(r0) * T, T, k, QKV, 0.0f, dq + size_t(r0) * QKV, QKV);
      }
      // By key block [j0, j1): only queries t >= j0 see it. dV += Pᵀ·dY, dK += dSᵀ·Q·scale.
      for (int j0 = 0; j0 < T; j0 += kBlock) {
        const int j1 = std::min(T, j0 + kBlock), cols = j1 - j0, n = T - j0;
        gemm(true, false, cols, HS, n, 1.0f, p + size_t(j0) * T + j0, T, dy + size_t(j0) * D, D, beta,
             dv + size_t(j0) * QKV, QKV);
        gemm(true, false, cols, HS, n, scale, dp + size_t(j0) * T + j0, T, q + size_t(j0) * QKV, QKV, beta,
             dk + size_t(j0) * QKV, QKV);
      }
    }
  }
}

// GPT-2's fused [q | k | v] is the grouped layout with NKV = NH.
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  attention_gqa_forward(out, att, qkv, B, T, NH, NH, C / NH);
}

void attention_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att, int B, int T,
                        int C, int NH) {
  attention_gqa_backward(dqkv, datt, dout, qkv, att, B, T, NH, NH, C / NH);
}

void attention_decode(float* y, float* scores, const float* q, const float* k, const float* v, const int* rows, int T,
                      size_t stride, int HS) {
  const float scale = 1.0f / std::sqrt(float(HS));
  for (int t = 0; t < T; ++t) {
    const float* kt = k + size_t(rows[t]) * stride;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < HS; ++i) dot += q[i] * kt[i];
    scores[t] = dot * scale;
  }
  softmax_in_place(scores, T);
  for (int i = 0; i < HS; ++i) y[i] = 0;
  for (int t = 0; t < T; ++t) {
    const float* vt = v + size_t(rows[t]) * stride;
    const float p = scores[t];
#pragma omp simd
    for (int i = 0; i < HS; ++i) y[i] += p * vt[i];
  }
}

}  // namespace tf
