// A GGUF file's own vocabulary (gguf_vocab.h): a file whose strings are not UTF-8 is one Error
// naming the keys, not nlohmann's exception (fuzz_gguf_vocab found that crash); the same file
// with UTF-8 strings builds a tokenizer that encodes with its merges.
#include "model/gguf_vocab.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/byte_level.h"

namespace tf {
namespace {

// A "gpt2"/llama-bpe vocabulary: the 256 byte symbols, then "He", "ll", "Hell" from 3 merges,
// the last token replaced by `last`.
std::unique_ptr<Tokenizer> vocab_with(const std::string& last, std::string* why) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_level_text(std::string(1, char(b))));  // id = byte
  for (const char* t : {"He", "ll", "Hell"}) tokens.push_back(t);
  tokens.push_back(last);
  const std::vector<std::pair<std::string, GgufValue>> kv = {
      {"tokenizer.ggml.model", GgufValue::str("gpt2")},
      {"tokenizer.ggml.pre", GgufValue::str("llama-bpe")},
      {"tokenizer.ggml.tokens", GgufValue::strings(tokens)},
      {"tokenizer.ggml.merges", GgufValue::strings({"H e", "l l", "He ll"})},
  };
  const std::string path = ::testing::TempDir() + "/vocab_" + std::to_string(getpid()) + ".gguf";
  write_gguf(path, kv, {});
  Gguf g(path);
  auto tok = gguf_vocab_tokenizer(g, why);
  std::remove(path.c_str());
  return tok;
}

TEST(GgufVocab, StringsThatAreNotUtf8AreOneError) {
  std::string why;
  try {
    vocab_with("bad\x99", &why);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("not UTF-8"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tokenizer.ggml.tokens"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(GgufVocab, TheSameFileInUtf8Tokenizes) {
  std::string why;
  const auto tok = vocab_with("good", &why);
  ASSERT_TRUE(tok) << why;
  // "Hello": H e l l o -> He ll o -> Hell o: ids 258 ("Hell") and 'o' (its byte's id).
  EXPECT_EQ(tok->encode("Hello"), (std::vector<int>{258, 'o'}));
}

}  // namespace
}  // namespace tf
