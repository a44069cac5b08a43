// The GGUF reader: a written file reads back exactly, and every malformed file is one Error
// naming the problem.
#include "io/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/file.h"

namespace tf {
namespace {

// Raw little-endian bytes, for hand-made (and broken) files.
struct Bytes {
  std::string s;
  Bytes& u(uint64_t v, int k) {
    for (int i = 0; i < k; ++i) s += char((v >> (8 * i)) & 0xff);
    return *this;
  }
  Bytes& str(const std::string& x) {
    u(x.size(), 8);
    s += x;
    return *this;
  }
  Bytes& pad(size_t a) {
    s.resize((s.size() + a - 1) / a * a, '\0');
    return *this;
  }
};

Bytes header(uint64_t n_tensors, uint64_t n_kv) {
  Bytes b;
  b.s = "GGUF";
  return b.u(3, 4).u(n_tensors, 8).u(n_kv, 8);
}

// One tensor "w" of dims {dims...}, type, offset; data_bytes of zeros after the aligned header.
std::string one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data_bytes) {
  Bytes b = header(1, 0);
  b.str("w").u(dims.size(), 4);
  for (auto d : dims) b.u(d, 8);
  b.u(type, 4).u(offset, 8).pad(32);
  b.s += std::string(data_bytes, '\0');
  return b.s;
}

std::string error_of(const std::string& bytes) {
  try {
    Gguf g(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.gguf");
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("x.gguf: ", 0), 0u) << e.what();
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(bytes, part) EXPECT_NE(error_of(bytes).find(part), std::string::npos) << error_of(bytes)

TEST(Gguf, RoundTrip) {
  const std::string path = ::testing::TempDir() + "/rt_" + std::to_string(getpid()) + ".gguf";
  std::vector<float> a(2 * 3), b(64), c(5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) - 2.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::sin(float(i));
  for (size_t i = 0; i < c.size(); ++i) c[i] = 1.0f / float(i + 1);
  GgufValue nested;
  nested.type = GgufType::kArray;
  nested.elem = GgufType::kArray;
  nested.array = {GgufValue::i32s({1, -2}), GgufValue::i32s({})};
  GgufValue f64;
  f64.type = GgufType::kF64;
  f64.f = 1e-300;
  write_gguf(path,
             {{"general.architecture", GgufValue::str("llama")},
              {"n", GgufValue::u32(7)},
              {"neg", GgufValue::i32(-5)},
              {"eps", GgufValue::f32(1e-5f)},
              {"big", f64},
              {"yes", GgufValue::boolean(true)},
              {"toks", GgufValue::strings({"a", "", "\xc4\xa0x"})},
              {"nested", nested}},
             {{"a", {2, 3}, GgmlType::kF32, a.data()},
              {"b", {2, 32}, GgmlType::kQ8_0, b.data()},
              {"c", {5}, GgmlType::kF16, c.data()},
              {"d", {5}, GgmlType::kBF16, c.data()}});
  Gguf g(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_uint("n"), 7u);
  EXPECT_EQ(g.find_value("neg")->i, -5);
  EXPECT_FLOAT_EQ(float(g.get_float("eps")), 1e-5f);
  EXPECT_EQ(g.get_float("big"), 1e-300);
  EXPECT_TRUE(g.find_value("yes")->b);
  const auto& toks = g.find_value("toks")->array;
  ASSERT_EQ(toks.size(), 3u);
  EXPECT_EQ(toks[2].s, "\xc4\xa0x");
  ASSERT_EQ(g.find_value("nested")->array.size(), 2u);
  EXPECT_EQ(g.find_value("nested")->array[0].array[1].i, -2);
  EXPECT_THROW(g.get_uint("neg"), Error);
  EXPECT_THROW(g.get_string("missing"), Error);

  const GgufTensorInfo* ta = g.find("a");
  ASSERT_TRUE(ta);
  EXPECT_EQ(ta->dims, (std::vector<uint64_t>{3, 2}));  // ggml order
  EXPECT_EQ(ta->shape(), (std::vector<long>{2, 3}));
  EXPECT_EQ(g.read_f32(*ta), a);
  for (const auto& t : g.tensors()) EXPECT_EQ(t.offset % g.alignment(), 0u);
  const auto rb = g.read_f32(*g.find("b"));
  for (size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(rb[i], b[i], 1.0 / 127 * 0.51 + 1e-3) << i;
  const auto rc = g.read_f32(*g.find("c")), rd = g.read_f32(*g.find("d"));
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_NEAR(rc[i], c[i], c[i] * 1e-3);
    EXPECT_NEAR(rd[i], c[i], c[i] * 8e-3);
  }
  std::filesystem::remove(path);
}

TEST(Gguf, RejectsMalformedFiles) {
  EXPECT_ERROR("GGU", "no \"GGUF\" magic");
  EXPECT_ERROR("GGML\3\0\0\0", "no \"GGUF\" magic");
  EXPECT_ERROR(std::string("GGUF\3\0\0", 7), "truncated");
  EXPECT_ERROR(std::string("GGUF\3\0\0\0\0\0", 10), "truncated at byte 8 reading the tensor count");
  Bytes v1;
  v1.s = "GGUF";
  EXPECT_ERROR(v1.u(1, 4).u(0, 8).u(0, 8).s, "version 1 is not supported");
  // Huge counts and lengths.
  EXPECT_ERROR(header(0, uint64_t(1) << 60).s, "metadata count 1152921504606846976");
  EXPECT_ERROR(header(uint64_t(1) << 62, 0).s, "tensor count");
  EXPECT_ERROR(header(0, 1).str("k").u(4, 4).u(1, 2).s, "truncated at byte 37 reading metadata k");
  EXPECT_ERROR(header(0, 1).u(uint64_t(-1), 8).s + "abcdefgh", "metadata key 0 has length");
  EXPECT_ERROR(header(0, 1).str("k").u(8, 4).u(1000, 8).s + "abc", "metadata k has length 1000");
  EXPECT_ERROR(header(0, 1).str("k").u(9, 4).u(4, 4).u(uint64_t(1) << 61, 8).s + "abcd", "more than the 4 bytes");
  EXPECT_ERROR(header(0, 1).str("k").u(9, 4).u(8, 4).u(uint64_t(1) << 61, 8).s, "elements");
  EXPECT_ERROR(header(0, 1).str("k").u(13, 4).u(0, 8).s, "unknown value type 13");
  EXPECT_ERROR(header(0, 1).str("k").u(9, 4).u(99, 4).u(0, 8).s, "unknown element type 99");
  EXPECT_ERROR(header(0, 1).str("k").u(7, 4).u(2, 1).s, "not 0 or 1");
  EXPECT_ERROR(header(0, 2).str("k").u(0, 4).u(1, 1).str("k").u(0, 4).u(1, 1).s, "metadata key k appears twice");
  Bytes deep = header(0, 1).str("k").u(9, 4);
  for (int i = 0; i < 6; ++i) deep.u(9, 4).u(1, 8);
  EXPECT_ERROR(deep.u(0, 4).u(0, 8).s, "nests arrays");
  EXPECT_ERROR(header(0, 1).str("general.alignment").u(4, 4).u(24, 4).s, "power of two");
  EXPECT_ERROR(header(0, 1).str("general.alignment").u(6, 4).u(0, 4).s, "general.alignment must be");
  // Tensor infos.
  EXPECT_ERROR(one_tensor({4}, 0, 0, 15), "runs past the end of the data section");
  EXPECT_ERROR(one_tensor({4}, 0, 32, 40), "(16 bytes at offset 32) runs past the end");
  EXPECT_ERROR(one_tensor({4}, 0, uint64_t(-32), 16), "runs past the end");
  EXPECT_ERROR(one_tensor({4}, 0, 8, 64), "offset 8, not a multiple of the alignment 32");
  EXPECT_ERROR(one_tensor({256}, 10, 0, 128), "ggml type 10 (Q2_K), which tformer does not read");
  EXPECT_ERROR(one_tensor({4}, 99, 0, 64), "ggml type 99, which tformer");
  // Block types: the row a whole number of blocks, the blocks' bytes inside the file.
  EXPECT_ERROR(one_tensor({48}, 2, 0, 64), "first dim 48 is not a multiple of Q4_0's block of 32");
  EXPECT_ERROR(one_tensor({128, 2}, 12, 0, 512), "first dim 128 is not a multiple of Q4_K's block of 256");
  EXPECT_ERROR(one_tensor({256, 2}, 12, 0, 287), "(288 bytes at offset 0) runs past the end");
  EXPECT_ERROR(one_tensor({256, 3}, 14, 0, 629), "(630 bytes at offset 0) runs past the end");
  EXPECT_ERROR(one_tensor({64}, 13, 0, 256), "Q5_K's block of 256");
  EXPECT_ERROR(one_tensor({32, 2}, 7, 0, 47), "(48 bytes at offset 0) runs past the end");
  EXPECT_ERROR(one_tensor({}, 0, 0, 64), "n_dims 0");
  EXPECT_ERROR(one_tensor({1, 1, 1, 1, 1}, 0, 0, 64), "n_dims 5");
  EXPECT_ERROR(one_tensor({uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0, 64), "impossibly large shape");
  EXPECT_ERROR(one_tensor({uint64_t(-1)}, 0, 0, 64), "impossibly large shape");
  EXPECT_ERROR(one_tensor({uint64_t(1) << 39, uint64_t(1) << 30}, 0, 0, 64), "impossibly large shape");
  EXPECT_ERROR(one_tensor({33}, 8, 0, 64), "not a multiple of Q8_0's block of 32");
  EXPECT_ERROR(header(1, 0).str("w").u(1, 4).u(4, 8).u(0, 4).s, "truncated");
  Bytes two = header(2, 0);
  two.str("w").u(1, 4).u(16, 8).u(0, 4).u(0, 8);
  two.str("v").u(1, 4).u(4, 8).u(0, 4).u(32, 8).pad(32);
  EXPECT_ERROR(two.s + std::string(128, '\0'), "tensors w and v overlap");
  Bytes dup = header(2, 0);
  dup.str("w").u(1, 4).u(4, 8).u(0, 4).u(0, 8);
  dup.str("w").u(1, 4).u(4, 8).u(0, 4).u(32, 8).pad(32);
  EXPECT_ERROR(dup.s + std::string(128, '\0'), "tensor w appears twice");
  // Well-formed ones for contrast.
  EXPECT_EQ(error_of(one_tensor({4}, 0, 0, 16)), "");
  EXPECT_EQ(error_of(one_tensor({256, 2}, 12, 0, 288)), "");
  EXPECT_EQ(error_of(one_tensor({32, 3}, 6, 0, 66)), "");
}

TEST(Gguf, CannotOpenIsAnError) { EXPECT_THROW(Gguf("/nonexistent/x.gguf"), Error); }

}  // namespace
}  // namespace tf
