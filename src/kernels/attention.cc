#include <cmath>

#include "kernels/fast_math.h"
#include "kernels/kernels.h"

namespace tf {

// Per (batch, head): S = Q·Kᵀ/sqrt(HS) and Y = P·V through the GEMM library, the causal
// softmax in between. The full T×T product costs twice the causal half, but sgemm runs it
// several times faster than a hand loop over the lower triangle.
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  const int HS = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    const int b = bh / NH, h = bh % NH;
    const float* q = qkv + size_t(b) * T * C3 + h * HS;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* p = att + size_t(bh) * T * T;
    gemm(false, true, T, T, HS, scale, q, C3, k, C3, 0.0f, p, T);
    for (int t = 0; t < T; ++t) {
      float* row = p + size_t(t) * T;
      float mx = row[0];
      for (int s = 1; s <= t; ++s) mx = row[s] > mx ? row[s] : mx;
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int s = 0; s <= t; ++s) {
        row[s] = exp_approx(row[s] - mx);
        sum += row[s];
      }
      const float inv = 1.0f / sum;
      for (int s = 0; s <= t; ++s) row[s] *= inv;
      for (int s = t + 1; s < T; ++s) row[s] = 0.0f;
    }
    gemm(false, false, T, HS, T, 1.0f, p, T, v, C3, 0.0f, out + size_t(b) * T * C + h * HS, C);
  }
}

void attention_backward(float* dqkv, float* datt, const float* dout, const float* qkv,
                        const float* att, int B, int T, int C, int NH) {
  const int HS = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    const int b = bh / NH, h = bh % NH;
    const float* q = qkv + size_t(b) * T * C3 + h * HS;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dq = dqkv + size_t(b) * T * C3 + h * HS;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    const float* p = att + size_t(bh) * T * T;
    float* dp = datt + size_t(bh) * T * T;
    const float* dy = dout + size_t(b) * T * C + h * HS;
    gemm(false, true, T, T, HS, 1.0f, dy, C, v, C3, 0.0f, dp, T);   // dP = dY·Vᵀ
    gemm(true, false, T, HS, T, 1.0f, p, T, dy, C, 0.0f, dv, C3);   // dV = Pᵀ·dY
    for (int t = 0; t < T; ++t) {  // softmax backward: dS = P ⊙ (dP − Σ P⊙dP)
      const float* pr = p + size_t(t) * T;
      float* dr = dp + size_t(t) * T;
      float dot = 0;
      for (int s = 0; s <= t; ++s) dot += pr[s] * dr[s];
      for (int s = 0; s <= t; ++s) dr[s] = pr[s] * (dr[s] - dot);
      for (int s = t + 1; s < T; ++s) dr[s] = 0.0f;
    }
    gemm(false, false, T, HS, T, scale, dp, T, k, C3, 0.0f, dq, C3);  // dQ = dS·K·scale
    gemm(true, false, T, HS, T, scale, dp, T, q, C3, 0.0f, dk, C3);   // dK = dSᵀ·Q·scale
  }
}

void attention_decode(float* y, float* scores, const float* q, const float* k, const float* v,
                      const int* rows, int T, size_t stride, int HS) {
  const float scale = 1.0f / std::sqrt(float(HS));
  float mx = -INFINITY;
  for (int t = 0; t < T; ++t) {
    const float* kt = k + size_t(rows[t]) * stride;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < HS; ++i) dot += q[i] * kt[i];
    scores[t] = dot * scale;
    mx = scores[t] > mx ? scores[t] : mx;
  }
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int t = 0; t < T; ++t) {
    scores[t] = exp_approx(scores[t] - mx);
    sum += scores[t];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < HS; ++i) y[i] = 0;
  for (int t = 0; t < T; ++t) {
    const float* vt = v + size_t(rows[t]) * stride;
    const float p = scores[t] * inv;
#pragma omp simd
    for (int i = 0; i < HS; ++i) y[i] += p * vt[i];
  }
}

}  // namespace tf
