// The decoder chain of a Hugging Face tokenizer.json ("decoder": {...}): ByteLevel, Replace,
// ByteFallback, Fuse, Strip and Sequence. Every step before Fuse works token by token, so the
// chain is run once per vocabulary entry at load time and decoding is a concatenation; only
// a Strip after Fuse touches the joined text (Llama-2's Strip(" ", 1, 0) removes the space the
// normalizer's "▁" prefix became).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tf {

class Decoder {
 public:
  Decoder(const nlohmann::json& j, const std::string& where);
  // The bytes one token decodes to. added: an added token, which ByteLevel leaves as it is.
  std::string token_bytes(const std::string& token, bool added) const;
  // Applies what comes after Fuse to the joined bytes.
  void finish(std::string& text) const;

 private:
  struct Step {
    enum Kind { kByteLevel, kReplace, kByteFallback, kStrip } kind;
    std::string from, to;  // Replace; Strip's content in from
    int start = 0, stop = 0;
  };
  void parse(const nlohmann::json& j, const std::string& where, const std::string& key);
  std::vector<Step> per_token_, after_fuse_;
  bool fused_ = false;
};

}  // namespace tf
