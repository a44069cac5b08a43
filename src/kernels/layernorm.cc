#include <cmath>

#include "kernels/kernels.h"

namespace tf {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps) {
#pragma omp parallel for schedule(static) if (size_t(N) * C >= kParallelMin)
  for (int i = 0; i < N; ++i) {
    const float* x = inp + size_t(i) * C;
    float* y = out + size_t(i) * C;
    float m = 0;
#pragma omp simd reduction(+ : m)
    for (int c = 0; c < C; ++c) m += x[c];
    m /= C;
    float var = 0;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
    var /= C;  // biased variance, as torch.nn.LayerNorm
    const float s = 1.0f / std::sqrt(var + eps);
    for (int c = 0; c < C; ++c) y[c] = (x[c] - m) * s * w[c] + b[c];
    if (mean) mean[i] = m;
    if (rstd) rstd[i] = s;
  }
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* x = inp + size_t(i) * C;
    const float* dy = dout + size_t(i) * C;
    float* dx = dinp + size_t(i) * C;
    const float m = mean[i], s = rstd[i];
    float dnorm_mean = 0, dnorm_norm_mean = 0;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
    for (int c = 0; c < C; ++c) {
      const float norm = (x[c] - m) * s;
      const float dnorm = w[c] * dy[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
    for (int c = 0; c < C; ++c) {
      const float norm = (x[c] - m) * s;
      dx[c] += (w[c] * dy[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
  // Parameter gradients: columns split across threads, rows summed in order (deterministic).
  constexpr int kBlock = 64;
#pragma omp parallel for schedule(static)
  for (int c0 = 0; c0 < C; c0 += kBlock) {
    const int c1 = c0 + kBlock < C ? c0 + kBlock : C;
    float aw[kBlock] = {}, ab[kBlock] = {};
    for (int i = 0; i < N; ++i) {
      const float* x = inp + size_t(i) * C;
      const float* dy = dout + size_t(i) * C;
      for (int c = c0; c < c1; ++c) {
        aw[c - c0] += (x[c] - mean[i]) * rstd[i] * dy[c];
        ab[c - c0] += dy[c];
      }
    }
    for (int c = c0; c < c1; ++c) {
      dw[c] += aw[c - c0];
      db[c] += ab[c - c0];
    }
  }
}

}  // namespace tf
