#include <cmath>

#include "kernels/kernels.h"

namespace tf {

void swiglu_forward(float* out, const float* inp, int N, int I) {
#pragma omp parallel for schedule(static) if (size_t(N) * I >= kParallelMin / 4)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + size_t(n) * 2 * I;
    const float* u = g + I;
    float* o = out + size_t(n) * I;
    for (int i = 0; i < I; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

// d gate = dout·up·σ(g)·(1 + g·(1 − σ(g))), d up = dout·silu(g).
void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int I) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + size_t(n) * 2 * I;
    const float* u = g + I;
    const float* d = dout + size_t(n) * I;
    float* dg = dinp + size_t(n) * 2 * I;
    float* du = dg + I;
    for (int i = 0; i < I; ++i) {
      const float sig = 1.0f / (1.0f + std::exp(-g[i]));
      dg[i] = d[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
      du[i] = d[i] * g[i] * sig;
    }
  }
}

}  // namespace tf
