#include "core/ggml_quants.h"

#include <cstring>

#include "core/half.h"

namespace tf {

namespace {

// Block b of a row, copied out: the struct has 2-byte fields and the file need not align them.
template <typename B>
B block_at(const uint8_t* blocks, size_t b) {
  B x;
  std::memcpy(&x, blocks + b * sizeof(B), sizeof(B));
  return x;
}

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K block (ggml's get_scale_min_k4): the
// first four sit in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); the last four keep
// their low 4 bits in the nibbles of bytes 8-11 and their top 2 in the spare bits of bytes 0-7.
void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace

void dequantize_row_q4_0(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQK4; ++b, y += kQK4) {
    const auto x = block_at<BlockQ4_0>(blocks, b);
    const float d = half_to_float(x.d);
    for (int j = 0; j < kQK4 / 2; ++j) {
      y[j] = float((x.qs[j] & 0xF) - 8) * d;
      y[j + kQK4 / 2] = float((x.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQK4; ++b, y += kQK4) {
    const auto x = block_at<BlockQ4_1>(blocks, b);
    const float d = half_to_float(x.d), m = half_to_float(x.m);
    for (int j = 0; j < kQK4 / 2; ++j) {
      y[j] = float(x.qs[j] & 0xF) * d + m;
      y[j + kQK4 / 2] = float(x.qs[j] >> 4) * d + m;
    }
  }
}

namespace {
uint32_t high_bits(const uint8_t qh[4]) {  // little-endian, as the file stores it
  return uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
}
}  // namespace

void dequantize_row_q5_0(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQK4; ++b, y += kQK4) {
    const auto x = block_at<BlockQ5_0>(blocks, b);
    const float d = half_to_float(x.d);
    const uint32_t qh = high_bits(x.qh);
    for (int j = 0; j < kQK4 / 2; ++j) {
      const int h0 = int((qh >> j) & 1) << 4, h1 = int((qh >> (j + 16)) & 1) << 4;
      y[j] = float(((x.qs[j] & 0xF) | h0) - 16) * d;
      y[j + kQK4 / 2] = float(((x.qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void dequantize_row_q5_1(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQK4; ++b, y += kQK4) {
    const auto x = block_at<BlockQ5_1>(blocks, b);
    const float d = half_to_float(x.d), m = half_to_float(x.m);
    const uint32_t qh = high_bits(x.qh);
    for (int j = 0; j < kQK4 / 2; ++j) {
      const int h0 = int((qh >> j) & 1) << 4, h1 = int((qh >> (j + 16)) & 1) << 4;
      y[j] = float((x.qs[j] & 0xF) | h0) * d + m;
      y[j + kQK4 / 2] = float((x.qs[j] >> 4) | h1) * d + m;
    }
  }
}

void dequantize_row_q4_K(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQKK; ++b) {
    const auto x = block_at<BlockQ4_K>(blocks, b);
    const float d = half_to_float(x.d), dmin = half_to_float(x.dmin);
    const uint8_t* q = x.qs;
    // 64 weights at a time: 32 bytes, sub-block 2c in the low nibbles, 2c + 1 in the high.
    for (int c = 0; c < 4; ++c, q += 32) {
      uint8_t sc, m;
      scale_min_k4(2 * c, x.scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(2 * c + 1, x.scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void dequantize_row_q5_K(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQKK; ++b) {
    const auto x = block_at<BlockQ5_K>(blocks, b);
    const float d = half_to_float(x.d), dmin = half_to_float(x.dmin);
    const uint8_t* q = x.qs;
    for (int c = 0; c < 4; ++c, q += 32) {
      uint8_t sc, m;
      scale_min_k4(2 * c, x.scales, sc, m);
      const float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(2 * c + 1, x.scales, sc, m);
      const float d2 = d * float(sc), m2 = dmin * float(m);
      const uint8_t u1 = uint8_t(1u << (2 * c)), u2 = uint8_t(2u << (2 * c));  // sub-block's bit of qh
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((q[l] & 0xF) + (x.qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((q[l] >> 4) + (x.qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequantize_row_q6_K(float* y, const uint8_t* blocks, size_t n) {
  for (size_t b = 0; b < n / kQKK; ++b) {
    const auto x = block_at<BlockQ6_K>(blocks, b);
    const float d = half_to_float(x.d);
    // Two halves of 128: weight l, l + 32, l + 64, l + 96 (l < 32) share qh[l]'s four 2-bit
    // fields; their low nibbles are ql[l] low, ql[l + 32] low, ql[l] high, ql[l + 32] high.
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t *ql = x.ql + 64 * h, *qh = x.qh + 32 * h;
      const int8_t* sc = x.scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[s]) * float(q1);
        y[l + 32] = d * float(sc[s + 2]) * float(q2);
        y[l + 64] = d * float(sc[s + 4]) * float(q3);
        y[l + 96] = d * float(sc[s + 6]) * float(q4);
      }
    }
  }
}

}  // namespace tf
