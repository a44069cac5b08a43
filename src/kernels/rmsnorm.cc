#include <cmath>

#include "kernels/kernels.h"

namespace tf {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if (size_t(N) * C >= kParallelMin)
  for (int i = 0; i < N; ++i) {
    const float* x = inp + size_t(i) * C;
    float* y = out + size_t(i) * C;
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; ++c) ss += x[c] * x[c];
    const float s = 1.0f / std::sqrt(ss / C + eps);
#pragma omp simd
    for (int c = 0; c < C; ++c) y[c] = x[c] * s * w[c];
    if (rstd) rstd[i] = s;
  }
}

// With n = x·s and g = w ⊙ dy: dx = s·(g − n·mean(g ⊙ n)), dw = Σ_rows dy ⊙ n.
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                      int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* x = inp + size_t(i) * C;
    const float* dy = dout + size_t(i) * C;
    float* dx = dinp + size_t(i) * C;
    const float s = rstd[i];
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; ++c) dot += w[c] * dy[c] * x[c] * s;
    dot /= C;
#pragma omp simd
    for (int c = 0; c < C; ++c) dx[c] += s * (w[c] * dy[c] - x[c] * s * dot);
  }
  // The weight gradient: columns split across threads, rows summed in order (deterministic).
  constexpr int kBlock = 64;
#pragma omp parallel for schedule(static)
  for (int c0 = 0; c0 < C; c0 += kBlock) {
    const int c1 = c0 + kBlock < C ? c0 + kBlock : C;
    float aw[kBlock] = {};
    for (int i = 0; i < N; ++i) {
      const float* x = inp + size_t(i) * C;
      const float* dy = dout + size_t(i) * C;
      for (int c = c0; c < c1; ++c) aw[c - c0] += x[c] * rstd[i] * dy[c];
    }
    for (int c = c0; c < c1; ++c) dw[c] += aw[c - c0];
  }
}

}  // namespace tf
