// The added tokens of a Hugging Face tokenizer.json ("added_tokens": [...]): <|begin_of_text|>,
// <|im_start|>, <s> and the like. They are cut out of the text before normalization and
// pre-tokenization, so that "<|im_start|>" in a prompt is one token and never "<", "|", ...
// At each position the longest added token that starts there wins (huggingface/tokenizers
// and transformers.js agree on this); lstrip/rstrip eat the whitespace beside a token.
// Matching is on the raw text: "normalized": true and "single_word" are not honoured, as in
// transformers.js (huggingface/tokenizers honours both; no Llama/Qwen/Mistral file sets them).
#pragma once
#include <bitset>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/string_hash.h"

namespace tf {

struct AddedToken {
  int id = -1;
  std::string content;
  bool special = false, lstrip = false, rstrip = false;
};

class AddedTokens {
 public:
  AddedTokens() = default;
  // j: the "added_tokens" array (null: none).
  AddedTokens(const nlohmann::json& j, const std::string& where);
  explicit AddedTokens(std::vector<AddedToken> tokens);

  // One stretch of the text: either plain text (token < 0) or an added token.
  struct Piece {
    std::string_view text;
    int token = -1;  // index into tokens()
  };
  std::vector<Piece> split(std::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // Index in tokens() of the token with this content, or -1.
  int find(std::string_view content) const;

 private:
  void index();
  std::vector<AddedToken> tokens_;
  StringMap<int> by_content_;
  std::vector<size_t> lengths_;  // distinct content lengths, longest first
  std::bitset<256> first_bytes_;
};

}  // namespace tf
