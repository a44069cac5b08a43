// ggml's block quantizations that GGUF files as people download them carry (Q4_K_M = Q4_K +
// Q6_K, Q5_K_M = Q5_K + Q6_K, Q4_0 ...), decoded to fp32. Layouts from ggml-common.h
// (block_q4_0 ... block_q6_K), arithmetic from ggml-quants.c's dequantize_row_*: every scale is
// an IEEE half widened to float, products in float in ggml's order, so a weight here is the very
// float llama.cpp's own dequantizer gives. tformer reads these and does not write them: its
// quantized decode keeps Q8_0 (core/q8_0.h); anything else becomes fp32 at load.
// Legacy types: blocks of 32 weights. K types: super-blocks of 256 (QK_K) in sub-blocks of 32
// (Q4_K, Q5_K: 6-bit scale and min each) or 16 (Q6_K: int8 scale each).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tf {

constexpr int kQK4 = 32;      // QK4_0 = QK4_1 = QK5_0 = QK5_1
constexpr int kQKK = 256;     // QK_K
constexpr int kKScales = 12;  // K_SCALE_SIZE: 8 scales and 8 mins of 6 bits

struct BlockQ4_0 {  // x = d·(q - 8), q in [0, 16)
  uint16_t d;
  uint8_t qs[kQK4 / 2];  // weight j in the low nibble of byte j, weight j + 16 in its high one
};
struct BlockQ4_1 {  // x = d·q + m
  uint16_t d, m;
  uint8_t qs[kQK4 / 2];
};
struct BlockQ5_0 {  // x = d·(q - 16), q's fifth bit for weight j is bit j of qh (little-endian)
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK4 / 2];
};
struct BlockQ5_1 {  // x = d·q + m
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK4 / 2];
};
struct BlockQ4_K {  // x = d·sc_s·q - dmin·m_s for sub-block s of 32
  uint16_t d, dmin;
  uint8_t scales[kKScales];
  uint8_t qs[kQKK / 2];  // per 64 weights: 32 bytes, low nibbles the first 32, high the next
};
struct BlockQ5_K {  // as Q4_K with a fifth bit: sub-block s's from bit s of qh[l]
  uint16_t d, dmin;
  uint8_t scales[kKScales];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {  // x = d·scales_s·(q - 32) for sub-block s of 16, q 6 bits: 4 in ql, 2 in qh
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
                  sizeof(BlockQ5_1) == 24 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 &&
                  sizeof(BlockQ6_K) == 210,
              "ggml's blocks are unpadded");

// Each writes n floats (n a multiple of the block) from n / block blocks. The blocks may sit at
// any address (a GGUF mapping aligns tensors, not blocks): they are read byte by byte.
void dequantize_row_q4_0(float* y, const uint8_t* blocks, size_t n);
void dequantize_row_q4_1(float* y, const uint8_t* blocks, size_t n);
void dequantize_row_q5_0(float* y, const uint8_t* blocks, size_t n);
void dequantize_row_q5_1(float* y, const uint8_t* blocks, size_t n);
void dequantize_row_q4_K(float* y, const uint8_t* blocks, size_t n);
void dequantize_row_q5_K(float* y, const uint8_t* blocks, size_t n);
void dequantize_row_q6_K(float* y, const uint8_t* blocks, size_t n);

}  // namespace tf
