#include <cmath>
#include <vector>

#include "kernels/kernels.h"

namespace tf {

namespace {
// Turns every pair (x[i], x[i + HS/2]) of the H heads of each row by sign·pos·inv_freq[i]: the
// forward with sign +1, the backward (the transpose of a rotation is the rotation back) with −1.
void rotate(float* x, const int* pos, const double* inv_freq, int N, int H, int HS, int stride, double sign) {
  const int half = HS / 2;
#pragma omp parallel for schedule(static) if (size_t(N) * H * HS >= kParallelMin / 4)
  for (int n = 0; n < N; ++n) {
    // cos and sin once per row, shared by its H heads.
    std::vector<float> cs(2 * size_t(half));
    for (int i = 0; i < half; ++i) {
      const double a = double(pos[n]) * inv_freq[i];
      cs[i] = float(std::cos(a));
      cs[half + i] = float(sign * std::sin(a));
    }
    float* row = x + size_t(n) * stride;
    for (int h = 0; h < H; ++h) {
      float* x1 = row + size_t(h) * HS;
      float* x2 = x1 + half;
#pragma omp simd
      for (int i = 0; i < half; ++i) {
        const float a = x1[i], b = x2[i], c = cs[i], s = cs[half + i];
        x1[i] = a * c - b * s;
        x2[i] = b * c + a * s;
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, const int* pos, const double* inv_freq, int N, int H, int HS, int stride) {
  rotate(x, pos, inv_freq, N, H, HS, stride, 1.0);
}

void rope_backward(float* dx, const int* pos, const double* inv_freq, int N, int H, int HS, int stride) {
  rotate(dx, pos, inv_freq, N, H, HS, stride, -1.0);
}

}  // namespace tf
