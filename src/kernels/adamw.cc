#include <cmath>

#include "kernels/kernels.h"

namespace tf {

// The same operations, in the same order, as torch.optim.AdamW's single-tensor path, so that
// float32 results agree to rounding.
void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, long t) {
  const float bc1 = 1.0f - std::pow(beta1, float(t));
  const float bc2 = 1.0f - std::pow(beta2, float(t));
  const float step_size = lr / bc1;
  const float bc2_sqrt = std::sqrt(bc2);
  const float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    param[i] *= decay;
    m[i] += (grad[i] - m[i]) * (1.0f - beta1);  // torch: exp_avg.lerp_(grad, 1 - beta1)
    v[i] = v[i] * beta2 + (1.0f - beta2) * grad[i] * grad[i];
    const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    param[i] -= step_size * m[i] / denom;
  }
}

}  // namespace tf
