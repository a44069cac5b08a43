// Hugging Face tokenizer.json pre-tokenizers ("pre_tokenizer": {...}): Split by a regex or a
// string (behaviour Isolated or Removed; Llama-3's and Qwen2's patterns), ByteLevel (GPT-2's
// regex when use_regex, then every byte mapped to its printable stand-in), and Sequence.
// A word never crosses a pre-token boundary in BPE, so this fixes what BPE may merge.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

class Regex;

class PreTokenizer {
 public:
  // j: the "pre_tokenizer" value (null: the whole text is one word).
  PreTokenizer(const nlohmann::json& j, const std::string& where, const std::string& key = "pre_tokenizer");
  ~PreTokenizer();
  // The words of text, in the vocabulary's alphabet (byte-level stand-ins when byte_level()).
  std::vector<std::string> operator()(std::string_view text) const;
  bool byte_level() const { return byte_level_; }

 private:
  struct Split {
    std::shared_ptr<Regex> regex;
    bool keep_matches;  // Isolated: matches and the text between are words; Removed: only the text between
    bool prefix_space;  // ByteLevel's add_prefix_space: a word not starting with ' ' gets one first
  };
  void parse(const nlohmann::json& j, const std::string& where, const std::string& key);
  std::vector<Split> splits_;
  bool byte_level_ = false;
};

}  // namespace tf
