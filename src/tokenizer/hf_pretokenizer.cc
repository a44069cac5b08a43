#include "tokenizer/hf_pretokenizer.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"

namespace tf {

PreTokenizer::PreTokenizer(const nlohmann::json& j, const std::string& where, const std::string& key) {
  parse(j, where, key);
}
PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::parse(const nlohmann::json& j, const std::string& where, const std::string& key) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw Error(where + ": " + key + " must be null or an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  auto flag = [&](const char* k, bool dflt) {
    if (!j.contains(k) || j[k].is_null()) return dflt;
    if (!j[k].is_boolean()) throw Error(where + ": " + key + "." + k + " must be true or false");
    return j[k].get<bool>();
  };
  if (byte_level_)
    throw Error(where + ": " + key + " comes after a ByteLevel pre-tokenizer; only ByteLevel last is supported");
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      throw Error(where + ": " + key + ".pretokenizers must be an array");
    for (size_t i = 0; i < j["pretokenizers"].size(); ++i)
      parse(j["pretokenizers"][i], where, key + ".pretokenizers[" + std::to_string(i) + "]");
  } else if (type == "Split") {
    const auto& p = j.value("pattern", nlohmann::json());
    const bool literal = p.is_object() && p.contains("String") && p["String"].is_string();
    if (!literal && !(p.is_object() && p.contains("Regex") && p["Regex"].is_string()))
      throw Error(where + ": " + key + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
    const std::string behavior = j.value("behavior", std::string());
    if (behavior != "Isolated" && behavior != "Removed")
      throw Error(where + ": " + key + ".behavior \"" + behavior +
                  "\" is not supported (supported: Isolated, Removed)");
    if (flag("invert", false)) throw Error(where + ": " + key + ".invert true is not supported");
    const std::string pat = literal ? p["String"].get<std::string>() : p["Regex"].get<std::string>();
    splits_.push_back(
        {std::make_shared<Regex>(pat, literal, where + ": " + key + ".pattern"), behavior == "Isolated", false});
  } else if (type == "Digits") {
    // SmolLM2's first step: numbers split off, each character alone or in runs. Hugging Face's
    // Rust tokenizers tests char::is_numeric, the Unicode categories Nd, Nl and No: \p{N}
    // (transformers.js tests \d, ASCII only; tests/hf_tokenizer_parity.py shows the difference).
    const bool each = flag("individual_digits", false);
    splits_.push_back({std::make_shared<Regex>(each ? "\\p{N}" : "\\p{N}+", false, where + ": " + key), true, false});
  } else if (type == "ByteLevel") {
    const bool prefix = flag("add_prefix_space", true);
    // use_regex: GPT-2's pattern (huggingface/tokenizers pre_tokenizers/byte_level.rs).
    if (flag("use_regex", true))
      splits_.push_back({std::make_shared<Regex>(kGpt2Pattern, false, "ByteLevel"), true, prefix});
    else if (prefix)
      splits_.push_back({nullptr, true, true});
    byte_level_ = true;
  } else {
    throw Error(where + ": " + key + ".type \"" + type +
                "\" is not supported (supported: Split, Digits, ByteLevel, Sequence)");
  }
}

std::vector<std::string> PreTokenizer::operator()(std::string_view text) const {
  std::vector<std::string> words{std::string(text)};
  for (const Split& s : splits_) {
    std::vector<std::string> next;
    next.reserve(words.size());
    for (std::string& w : words) {
      if (s.prefix_space && (w.empty() || w[0] != ' ')) w.insert(w.begin(), ' ');
      if (!s.regex) {
        next.push_back(std::move(w));
        continue;
      }
      size_t pos = 0;
      for (auto [b, e] : s.regex->find_all(w)) {
        // The text between matches (for byte-level BPE, also bytes no pattern matches, such
        // as invalid UTF-8) is a word of its own.
        if (b > pos) next.emplace_back(w, pos, b - pos);
        if (s.keep_matches) next.emplace_back(w, b, e - b);
        pos = e;
      }
      if (pos < w.size()) next.emplace_back(w, pos, w.size() - pos);
    }
    words.swap(next);
  }
  if (byte_level_)
    for (std::string& w : words) w = byte_level_text(w);
  std::erase_if(words, [](const std::string& w) { return w.empty(); });
  return words;
}

}  // namespace tf
