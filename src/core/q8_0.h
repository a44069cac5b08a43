// Q8_0, ggml's 8-bit block format (ggml-common.h's block_q8_0, ggml-quants.c's
// quantize_row_q8_0_ref): a row is cut into blocks of 32 weights, each stored as one fp16
// scale d = max|x| / 127 and 32 int8 q = round(x / d), so x ≈ d·q. 34 bytes per 32 weights
// (8.5 bits a weight), 3.76× fewer than fp32. The one quantizer of tformer: the GGUF writer and
// Model::use_q8_0_weights() both call it, so a file written with --dtype q8_0 holds exactly the
// blocks that `generate --dtype q8_0` decodes with.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tf {

constexpr int kQ8Block = 32;  // QK8_0
struct BlockQ8_0 {
  uint16_t d;           // the scale, IEEE half
  int8_t qs[kQ8Block];  // the quants
};
static_assert(sizeof(BlockQ8_0) == 34, "ggml's block_q8_0 is 34 bytes, unpadded");

// x (n floats, n a multiple of 32) into n / 32 blocks. As ggml's reference: id = 1/d with d in
// fp32 (before d is rounded to fp16), q = roundf(x·id), halves away from zero; an all-zero
// block has d = 0 and q = 0.
void quantize_row_q8_0(BlockQ8_0* y, const float* x, size_t n);
// y (n floats) = d·q, the float product of the widened scale and the quant.
void dequantize_row_q8_0(float* y, const BlockQ8_0* x, size_t n);

}  // namespace tf
