// The safetensors reader rejects every malformed file with a message naming the problem.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "core/error.h"

namespace tf {
namespace {

std::string make(const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
  std::string s(8, '\0');
  const uint64_t n = claimed_len ? claimed_len : header.size();
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s + header + std::string(data_bytes, '\0');
}

std::string error_of(const std::string& bytes) {
  try {
    SafeTensors st(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SafeTensors, RejectsMalformedFiles) {
  EXPECT_NE(error_of("abc").find("truncated"), std::string::npos);
  EXPECT_NE(error_of(make("{}", 0, 1000)).find("runs past the end"), std::string::npos);
  EXPECT_NE(error_of(make("{not json", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(make("[1,2]", 0)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(make(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", 4)).find("unknown dtype Q4"),
            std::string::npos);
  EXPECT_NE(
      error_of(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4)).find("outside the data region"),
      std::string::npos);
  EXPECT_NE(error_of(make(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)).find("needs 12 bytes"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          make(
              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              12))
          .find("overlap"),
      std::string::npos);
  EXPECT_NE(error_of(make(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)).find("not a size"),
            std::string::npos);
  EXPECT_NE(
      error_of(make(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4)).find("large"),
      std::string::npos);
  EXPECT_NE(error_of(make(R"({"a":{"dtype":"F32"}})", 0)).find("needs dtype"), std::string::npos);
  EXPECT_EQ(
      error_of(make(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4)),
      "");
}

TEST(SafeTensors, WritesAndReadsBackWithHalfFormats) {
  const std::string path = testing::TempDir() + "/rt.safetensors";
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 65504.0f, 1e-7f};
  write_safetensors(path, {{"a", {2, 3}, a.data()}});
  SafeTensors st(path);
  ASSERT_NE(st.find("a"), nullptr);
  EXPECT_EQ(st.find("a")->shape, (std::vector<long>{2, 3}));
  EXPECT_EQ(st.read_f32(*st.find("a")), a);

  // F16 1.5 = 0x3E00, -2 = 0xC000; BF16 1.5 = 0x3FC0, -2 = 0xC000.
  const std::string h =
      R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
  std::string bytes = make(h, 0);
  const unsigned char data[8] = {0x00, 0x3E, 0x00, 0xC0, 0xC0, 0x3F, 0x00, 0xC0};
  bytes.append(reinterpret_cast<const char*>(data), 8);
  SafeTensors hs(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "h");
  EXPECT_EQ(hs.read_f32(*hs.find("h")), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(hs.read_f32(*hs.find("b")), (std::vector<float>{1.5f, -2.0f}));
}

}  // namespace
}  // namespace tf
