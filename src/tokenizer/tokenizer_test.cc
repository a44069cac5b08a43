#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"

namespace tf {
namespace {

TEST(ByteTokenizer, RoundTripsArbitraryBytes) {
  auto tok = make_byte_tokenizer();
  Rng r(5);
  std::string s;
  for (int i = 0; i < 1000; ++i) s += char(r.next() & 0xff);
  const auto ids = tok->encode(s);
  EXPECT_EQ(ids.size(), s.size());
  EXPECT_EQ(tok->decode(ids), s);
}

// A small byte-level BPE: byte tokens for "a", "b", " " (Ġ) plus merges.
std::string write_small_bpe() {
  const std::string dir = testing::TempDir() + "/bpe";
  std::filesystem::create_directories(dir);
  // Byte tokens for all 256 bytes are required; give them ids 0..255 in GPT-2's order.
  std::string vocab = "{";
  auto cp_of = [](int b) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    return printable ? b : 256 + n;
  };
  auto utf8 = [](int cp) {
    std::string s;
    if (cp < 0x80)
      s += char(cp);
    else {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    }
    return s;
  };
  auto esc = [](const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o;
  };
  for (int b = 0; b < 256; ++b) {
    vocab += '"';
    vocab += esc(utf8(cp_of(b)));
    vocab += "\":";
    vocab += std::to_string(b);
    vocab += ',';
  }
  vocab +=
      "\"ab\":256,\"abab\":257,\"\xC4\xA0"
      "a\":258}";  // Ġ = U+0120 = byte 0x20
  std::ofstream(dir + "/vocab.json") << vocab;
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\na b\nab ab\n\xC4\xA0 a\n";
  return dir;
}

TEST(BpeTokenizer, MergesByRankAndRoundTrips) {
  auto tok = load_bpe_tokenizer(write_small_bpe());
  EXPECT_EQ(tok->vocab_size(), 259);
  EXPECT_EQ(tok->encode("abab"), (std::vector<int>{257}));
  EXPECT_EQ(tok->encode("ababab"), (std::vector<int>{257, 256}));
  EXPECT_EQ(tok->encode("ab a"), (std::vector<int>{256, 258}));  // " a" is one pre-token
  EXPECT_EQ(tok->encode("ba"), (std::vector<int>{'b', 'a'}));
  Rng r(9);
  for (int trial = 0; trial < 50; ++trial) {
    std::string s;
    for (int i = 0; i < 40; ++i) s += char(r.next() & 0xff);  // mostly invalid UTF-8
    EXPECT_EQ(tok->decode(tok->encode(s)), s);
  }
  const std::string text = "héllo  wörld\n\n  🙂 ab's 123";
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
}

TEST(BpeTokenizer, BadFilesNameTheFile) {
  const std::string dir = testing::TempDir() + "/badbpe";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/vocab.json") << "{oops";
  std::ofstream(dir + "/merges.txt") << "";
  try {
    load_bpe_tokenizer(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.json"), std::string::npos);
  }
}

TEST(Utf8, CompletePrefixHoldsBackAPartialCharacter) {
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("a\xC3"), 1u);         // lead byte of é alone
  EXPECT_EQ(utf8_complete_prefix("a\xC3\xA9"), 3u);     // é complete
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x99"), 0u);  // 3 of the 4 bytes of 🙂
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x99\x82"), 4u);
}

}  // namespace
}  // namespace tf
