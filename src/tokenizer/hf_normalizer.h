// Hugging Face tokenizer.json normalizers ("normalizer": {...}): NFC, NFD, NFKC, NFKD (ICU),
// Prepend (Llama-2's "▁"), Replace (a string or a regex), and Sequence of these. Applied to
// each stretch of text between added tokens, as huggingface/tokenizers does.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/unicode_norm.h"

namespace tf {

class Regex;

class Normalizer {
 public:
  // j: the "normalizer" value (null: none); where/key: file and JSON path for errors.
  Normalizer(const nlohmann::json& j, const std::string& where, const std::string& key = "normalizer");
  ~Normalizer();
  std::string operator()(std::string text) const;
  bool empty() const { return steps_.empty(); }

 private:
  struct Step {
    enum Kind { kUnicode, kPrepend, kReplace } kind;
    UnicodeForm form = UnicodeForm::kNfc;
    std::string text;              // Prepend's prefix, Replace's literal pattern
    std::string content;           // Replace's replacement
    std::shared_ptr<Regex> regex;  // Replace's regex pattern, when it is one
  };
  void parse(const nlohmann::json& j, const std::string& where, const std::string& key);
  std::vector<Step> steps_;
};

}  // namespace tf
