// ggml's block dequantizers: each against a naive twin written here from the block layouts
// weight by weight (which byte, which nibble, which bit, which scale for weight i), on random
// blocks with ordinary and extreme halves; and one hand-made block per type whose values can be
// checked by hand. Plus the GGUF reader handing such a tensor to them.
#include "core/ggml_quants.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "io/gguf.h"

namespace tf {
namespace {

// ---- the twins: weight i of one block, from the raw bytes of the block (ggml-common.h layouts)

float h(const uint8_t* p) { return half_to_float(uint16_t(p[0] | p[1] << 8)); }
int nibble(const uint8_t* qs, int byte, int high) { return high ? qs[byte] >> 4 : qs[byte] & 15; }
int bit(const uint8_t* bytes, int k) { return (bytes[k / 8] >> (k % 8)) & 1; }

// Legacy blocks of 32: weight i is nibble (i / 16) of byte i % 16; Q5's fifth bit is bit i of qh.
float twin_q4_0(const uint8_t* b, int i) { return h(b) * float(nibble(b + 2, i % 16, i / 16) - 8); }
float twin_q4_1(const uint8_t* b, int i) { return h(b) * float(nibble(b + 4, i % 16, i / 16)) + h(b + 2); }
float twin_q5_0(const uint8_t* b, int i) {
  return h(b) * float(nibble(b + 6, i % 16, i / 16) + 16 * bit(b + 2, i) - 16);
}
float twin_q5_1(const uint8_t* b, int i) {
  return h(b) * float(nibble(b + 8, i % 16, i / 16) + 16 * bit(b + 4, i)) + h(b + 2);
}

// Q4_K / Q5_K sub-block s (of 8): a 6-bit scale and min. s < 4: low 6 bits of scales[s] and
// scales[s + 4]. s >= 4: low 4 bits in scales[s + 4]'s low (scale) and high (min) nibble, top 2
// bits in the top 2 bits of scales[s - 4] (scale) and scales[s] (min).
void twin_scale_min(const uint8_t* sc, int s, int& scale, int& min) {
  if (s < 4) {
    scale = sc[s] % 64;
    min = sc[s + 4] % 64;
  } else {
    scale = sc[s + 4] % 16 + 16 * (sc[s - 4] / 64);
    min = sc[s + 4] / 16 + 16 * (sc[s] / 64);
  }
}
// Weight i of 256: chunk c = i / 64 of 32 bytes, low nibbles the first 32 of the chunk.
float twin_q4_K(const uint8_t* b, int i) {
  int scale, min;
  twin_scale_min(b + 4, i / 32, scale, min);
  const int q = nibble(b + 16, 32 * (i / 64) + i % 32, (i % 64) / 32);
  return h(b) * float(scale) * float(q) - h(b + 2) * float(min);
}
// Q5_K: the fifth bit of weight i is bit (i / 32) of qh[i % 32].
float twin_q5_K(const uint8_t* b, int i) {
  int scale, min;
  twin_scale_min(b + 4, i / 32, scale, min);
  const uint8_t* qh = b + 16;
  const int q = nibble(b + 48, 32 * (i / 64) + i % 32, (i % 64) / 32) + 16 * ((qh[i % 32] >> (i / 32)) & 1);
  return h(b) * float(scale) * float(q) - h(b + 2) * float(min);
}
// Q6_K: halves of 128; in half g, weight r = 32k + l (k < 4) takes nibble k / 2 of ql[64g + l +
// 32 (k % 2)] and bits 2k, 2k + 1 of qh[32g + l]; scale 8g + r / 16; d last.
float twin_q6_K(const uint8_t* b, int i) {
  const uint8_t *ql = b, *qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const int g = i / 128, r = i % 128, k = r / 32, l = r % 32;
  const int lo = nibble(ql, 64 * g + l + 32 * (k % 2), k / 2), hi = (qh[32 * g + l] >> (2 * k)) & 3;
  return h(b + 208) * float(sc[8 * g + r / 16]) * float(lo + 16 * hi - 32);
}

struct Type {
  const char* name;
  int block, bytes;
  std::vector<int> half_at;  // byte offsets of the block's fp16 scales
  void (*row)(float*, const uint8_t*, size_t);
  float (*twin)(const uint8_t*, int);
};
const Type kTypes[] = {
    {"Q4_0", 32, 18, {0}, dequantize_row_q4_0, twin_q4_0},
    {"Q4_1", 32, 20, {0, 2}, dequantize_row_q4_1, twin_q4_1},
    {"Q5_0", 32, 22, {0}, dequantize_row_q5_0, twin_q5_0},
    {"Q5_1", 32, 24, {0, 2}, dequantize_row_q5_1, twin_q5_1},
    {"Q4_K", 256, 144, {0, 2}, dequantize_row_q4_K, twin_q4_K},
    {"Q5_K", 256, 176, {0, 2}, dequantize_row_q5_K, twin_q5_K},
    {"Q6_K", 256, 210, {208}, dequantize_row_q6_K, twin_q6_K},
};

// A finite half: ordinary values, and the extremes a quantizer can write (largest, smallest
// normal and subnormal, zero, negative zero).
uint16_t random_half(std::mt19937& rng) {
  static const uint16_t kExtreme[] = {0x7BFF, 0xFBFF, 0x0400, 0x0001, 0x8001, 0x0000, 0x8000, 0x3C00};
  if (rng() % 4 == 0) return kExtreme[rng() % 8];
  for (;;) {
    const uint16_t x = uint16_t(rng());
    if ((x & 0x7C00) != 0x7C00) return x;  // not Inf or NaN
  }
}

TEST(GgmlQuants, EachTypeMatchesItsTwinOnRandomBlocks) {
  std::mt19937 rng(7);
  for (const Type& t : kTypes) {
    const int nb = 64;  // blocks in the row
    std::vector<uint8_t> raw(size_t(nb) * t.bytes + 1);
    for (auto& x : raw) x = uint8_t(rng());
    const uint8_t* row = raw.data() + 1;  // odd address: the reader must not need alignment
    for (int b = 0; b < nb; ++b)
      for (int at : t.half_at) {
        const uint16_t v = random_half(rng);
        raw[1 + size_t(b) * t.bytes + at] = uint8_t(v);
        raw[1 + size_t(b) * t.bytes + at + 1] = uint8_t(v >> 8);
      }
    std::vector<float> got(size_t(nb) * t.block);
    t.row(got.data(), row, got.size());
    for (int b = 0; b < nb; ++b)
      for (int i = 0; i < t.block; ++i) {
        const float want = t.twin(row + size_t(b) * t.bytes, i), g = got[size_t(b) * t.block + i];
        ASSERT_TRUE(std::isfinite(want)) << t.name;
        // The same float operations in the same order; 1 ulp of slack for a compiler's FMA.
        ASSERT_NEAR(g, want, 2e-7f * std::abs(want) + 1e-30f) << t.name << " block " << b << " weight " << i;
      }
  }
}

// One block per type whose values are worked out by hand from the layout.
TEST(GgmlQuants, HandMadeBlocks) {
  float y[256];
  {  // Q4_0: d = 1; byte 0 = 0x9F: weight 0 = 15 - 8, weight 16 = 9 - 8
    uint8_t b[18] = {0x00, 0x3C, 0x9F};
    dequantize_row_q4_0(y, b, 32);
    EXPECT_EQ(y[0], 7.0f);
    EXPECT_EQ(y[16], 1.0f);
    EXPECT_EQ(y[1], -8.0f);
  }
  {  // Q4_1: d = 0.5, m = -1; byte 3 = 0x2A: weight 3 = 10·0.5 - 1, weight 19 = 2·0.5 - 1
    uint8_t b[20] = {0x00, 0x38, 0x00, 0xBC, 0, 0, 0, 0x2A};
    dequantize_row_q4_1(y, b, 32);
    EXPECT_EQ(y[3], 4.0f);
    EXPECT_EQ(y[19], 0.0f);
    EXPECT_EQ(y[0], -1.0f);
  }
  {  // Q5_0: d = 2; qh bits 0 and 17; byte 1 = 0x0F
    uint8_t b[22] = {0x00, 0x40, 0x01, 0x00, 0x02, 0x00, 0x00, 0x0F};
    dequantize_row_q5_0(y, b, 32);
    EXPECT_EQ(y[0], 0.0f);     // (0 + 16 - 16)·2
    EXPECT_EQ(y[1], -2.0f);    // (15 - 16)·2
    EXPECT_EQ(y[16], -32.0f);  // (0 - 16)·2
    EXPECT_EQ(y[17], 0.0f);    // (0 + 16 - 16)·2
  }
  {  // Q5_1: d = 1, m = 0.5; qh bit 31; byte 15 = 0x30: weight 31 = (3 + 16)·1 + 0.5
    uint8_t b[24] = {0x00, 0x3C, 0x00, 0x38, 0, 0, 0, 0x80};
    b[8 + 15] = 0x30;
    dequantize_row_q5_1(y, b, 32);
    EXPECT_EQ(y[31], 19.5f);
    EXPECT_EQ(y[15], 0.5f);
  }
  {  // Q4_K: d = 1, dmin = 0.5; sub-block 0: scale 3, min 2; sub-block 5: scale 37, min 20
    uint8_t b[144] = {0x00, 0x3C, 0x00, 0x38};
    uint8_t* sc = b + 4;
    sc[0] = 3, sc[4] = 2;
    sc[1] = 0x80;  // scale 5's top bits (37 = 0b10'0101); scale 1 itself 0
    sc[5] = 0x40;  // min 5's top bits (20 = 0b01'0100); min 1 itself 0
    sc[9] = 0x45;  // scale 5's and min 5's low nibbles
    b[16 + 0] = 0x07;
    b[16 + 65] = 0xA0;  // sub-block 5 = chunk 2's high nibbles: weight 161 in byte 64 + 1
    dequantize_row_q4_K(y, b, 256);
    EXPECT_EQ(y[0], 20.0f);     // 3·7 - 0.5·2
    EXPECT_EQ(y[161], 360.0f);  // 37·10 - 0.5·20
    EXPECT_EQ(y[160], -10.0f);  // 37·0 - 0.5·20
    EXPECT_EQ(y[33], 0.0f);     // sub-block 1: scale and min 0
  }
  {  // Q5_K: d = 1, dmin = 1; sub-block 0 scale 1, sub-block 1 scale 2, mins 0
    uint8_t b[176] = {0x00, 0x3C, 0x00, 0x3C, 1, 2};
    uint8_t *qh = b + 16, *qs = b + 48;
    qs[0] = 0x0F, qh[0] = 0x01;  // weight 0: 15 + 16
    qs[1] = 0x10, qh[1] = 0x02;  // weight 33: 1 + 16 (sub-block 1's bit is bit 1)
    dequantize_row_q5_K(y, b, 256);
    EXPECT_EQ(y[0], 31.0f);
    EXPECT_EQ(y[33], 34.0f);
    EXPECT_EQ(y[1], 0.0f);
  }
  {  // Q6_K: d = 0.5; scales 0, 2, 13 = 4, -2, 3
    uint8_t b[210] = {};
    b[208] = 0x00, b[209] = 0x38;
    int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
    sc[0] = 4, sc[2] = -2, sc[13] = 3;
    b[0] = 0x05, b[128 + 0] = 0x02;    // weight 0: 5 + 16·2 - 32 = 5
    b[81] = 0xF0, b[128 + 49] = 0x30;  // weight 209 = 128 + 81 (k 2, l 17): 15 + 16·3 - 32 = 31
    dequantize_row_q6_K(y, b, 256);
    EXPECT_EQ(y[0], 10.0f);    // 0.5·4·5
    EXPECT_EQ(y[32], 32.0f);   // 0.5·(-2)·(0 - 32)
    EXPECT_EQ(y[209], 46.5f);  // 0.5·3·31
  }
}

// The reader hands a block tensor to its dequantizer: a [2, 256] Q6_K and a [3, 32] Q5_0.
TEST(GgmlQuants, GgufReadsBlockTensors) {
  std::mt19937 rng(3);
  for (auto [type, cols, rows, bytes] : {std::tuple{14u, 256, 2, 210}, std::tuple{6u, 32, 3, 22}}) {
    std::string f = "GGUF";
    auto u = [&](uint64_t v, int k) {
      for (int i = 0; i < k; ++i) f += char((v >> (8 * i)) & 0xff);
    };
    u(3, 4), u(1, 8), u(0, 8), u(1, 8), f += "w", u(2, 4), u(uint64_t(cols), 8), u(uint64_t(rows), 8), u(type, 4),
        u(0, 8);
    f.resize(96, '\0');  // the 65-byte header padded to the alignment of 32
    std::string data(size_t(rows) * bytes, '\0');
    for (auto& c : data) c = char(rng());
    for (int r = 0; r < rows; ++r) {  // a finite scale per block
      const size_t at = size_t(r) * bytes + (type == 14 ? 208 : 0);
      data[at] = 0x00, data[at + 1] = 0x2C;  // 1/16
    }
    f += data;
    const Gguf g(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "q.gguf");
    const std::vector<float> got = g.read_f32(*g.find("w"));
    std::vector<float> want(size_t(rows) * cols);
    (type == 14 ? dequantize_row_q6_K : dequantize_row_q5_0)(want.data(), reinterpret_cast<const uint8_t*>(data.data()),
                                                             want.size());
    EXPECT_EQ(got, want);
    EXPECT_EQ(std::string(ggml_type_name(g.find("w")->type)), type == 14 ? "Q6_K" : "Q5_0");
  }
}

}  // namespace
}  // namespace tf
