// Tokenizers: byte-level (ids 0-255 are the bytes) and GPT-2's byte-level BPE.
// Both are lossless: decode(encode(x)) == x for any bytes, invalid UTF-8 included.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int> encode(std::string_view text) const = 0;
  // The raw bytes of one token (may be part of a UTF-8 character).
  virtual const std::string& token_bytes(int id) const = 0;
  virtual int vocab_size() const = 0;
  virtual std::string kind() const = 0;  // "byte" or "gpt2-bpe"
  std::string decode(std::span<const int> ids) const;
};

std::unique_ptr<Tokenizer> make_byte_tokenizer();
// GPT-2 BPE from dir/vocab.json and dir/merges.txt; throws Error naming the file at fault.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& dir);
// "byte", or a folder holding vocab.json + merges.txt.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec);

// Length of the longest prefix of s that does not end inside a UTF-8 character; streaming
// prints up to there and keeps the rest for the next token.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace tf
