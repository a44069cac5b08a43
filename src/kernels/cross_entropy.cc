#include <cmath>

#include "kernels/kernels.h"

namespace tf {

void cross_entropy_forward(float* losses, float* lse, const float* logits, const int* targets,
                           int N, int V) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* row = logits + size_t(i) * V;
    float mx = row[0];
    for (int v = 1; v < V; ++v) mx = row[v] > mx ? row[v] : mx;
    double sum = 0;
    for (int v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
    const float l = mx + float(std::log(sum));
    lse[i] = l;
    losses[i] = l - row[targets[i]];
  }
}

void cross_entropy_backward_inplace(float* logits, const float* lse, const int* targets,
                                    float dloss, int N, int V) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    float* row = logits + size_t(i) * V;
    const float l = lse[i];
    for (int v = 0; v < V; ++v) row[v] = std::exp(row[v] - l) * dloss;
    row[targets[i]] -= dloss;
  }
}

}  // namespace tf
