#include "kernels/kernels.h"

namespace tf {

void residual_add(float* out, const float* x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (size_t i = 0; i < n; ++i) out[i] += x[i];
}

void embedding_forward(float* out, const int* tokens, const int* positions, const float* wte, const float* wpe, int N,
                       int T, int C) {
#pragma omp parallel for schedule(static) if (size_t(N) * C >= kParallelMin)
  for (int i = 0; i < N; ++i) {
    const float* te = wte + size_t(tokens[i]) * C;
    float* o = out + size_t(i) * C;
    if (!wpe) {  // rotary models: positions enter inside attention
      for (int c = 0; c < C; ++c) o[c] = te[c];
      continue;
    }
    const float* pe = wpe + size_t(positions ? positions[i] : i % T) * C;
    for (int c = 0; c < C; ++c) o[c] = te[c] + pe[c];
  }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, int N, int T, int C) {
  // Columns split across threads, rows visited in order: the same sums in the same order at
  // any thread count, although several rows may scatter into one token's row.
  constexpr int kBlock = 32;
#pragma omp parallel for schedule(static)
  for (int c0 = 0; c0 < C; c0 += kBlock) {
    const int c1 = c0 + kBlock < C ? c0 + kBlock : C;
    for (int i = 0; i < N; ++i) {
      const float* d = dout + size_t(i) * C;
      float* te = dwte + size_t(tokens[i]) * C;
      for (int c = c0; c < c1; ++c) te[c] += d[c];
      if (!dwpe) continue;
      float* pe = dwpe + size_t(i % T) * C;
      for (int c = c0; c < c1; ++c) pe[c] += d[c];
    }
  }
}

}  // namespace tf
