// exp written as plain arithmetic, so that `#pragma omp simd` loops vectorise it (glibc's
// scalar calls took a third of a training step before; GELU uses x·sigmoid(2u), one exp).
// Cody-Waite range reduction x = n·ln2 + r, |r| <= ln2/2, then a degree-6 polynomial for e^r
// (Cephes' expf coefficients), about 1 ulp over the float range.
#pragma once
#include <cstdint>
#include <cstring>

namespace tf {

#pragma omp declare simd
inline float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // Round to nearest by adding and removing 1.5·2^23 (no libm call, so the loop vectorises).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;  // ln2, high part
  r -= n * -2.12194440e-4f;        // ln2, low part
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

}  // namespace tf
