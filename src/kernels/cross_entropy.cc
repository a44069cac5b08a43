#include <cmath>

#include "kernels/fast_math.h"
#include "kernels/kernels.h"

namespace tf {

void cross_entropy_forward(float* losses, float* lse, const float* logits, const int* targets, int N, int V) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* row = logits + size_t(i) * V;
    float mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int v = 1; v < V; ++v) mx = row[v] > mx ? row[v] : mx;
    float sum = 0;  // each term <= 1, the largest exactly 1: float holds the sum well
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; ++v) sum += exp_approx(row[v] - mx);
    const float l = mx + float(std::log(sum));
    lse[i] = l;
    losses[i] = l - row[targets[i]];
  }
}

void cross_entropy_backward_inplace(float* logits, const float* lse, const int* targets, float dloss, int N, int V) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    float* row = logits + size_t(i) * V;
    const float l = lse[i];
#pragma omp simd
    for (int v = 0; v < V; ++v) row[v] = exp_approx(row[v] - l) * dloss;
    row[targets[i]] -= dloss;
  }
}

}  // namespace tf
