#include "core/q8_0.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"

namespace tf {

void quantize_row_q8_0(BlockQ8_0* y, const float* x, size_t n) {
  for (size_t b = 0; b < n / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0;
    for (int i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = float_to_half(d);
    // roundf, not rint: ggml's reference rounds halves away from zero (std::round does too).
    for (int i = 0; i < kQ8Block; ++i) y[b].qs[i] = int8_t(std::round(xb[i] * id));
  }
}

void dequantize_row_q8_0(float* y, const BlockQ8_0* x, size_t n) {
  for (size_t b = 0; b < n / kQ8Block; ++b) {
    const float d = half_to_float(x[b].d);
    for (int i = 0; i < kQ8Block; ++i) y[b * kQ8Block + i] = d * float(x[b].qs[i]);
  }
}

}  // namespace tf
