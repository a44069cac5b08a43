#include "tokenizer/hf_normalizer.h"

#include "core/error.h"
#include "tokenizer/regex.h"

namespace tf {

Normalizer::Normalizer(const nlohmann::json& j, const std::string& where, const std::string& key) {
  parse(j, where, key);
}
Normalizer::~Normalizer() = default;

void Normalizer::parse(const nlohmann::json& j, const std::string& where, const std::string& key) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw Error(where + ": " + key + " must be null or an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  auto str = [&](const nlohmann::json& o, const char* k) {
    if (!o.contains(k) || !o[k].is_string()) throw Error(where + ": " + key + "." + k + " must be a string");
    return o[k].get<std::string>();
  };
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      throw Error(where + ": " + key + ".normalizers must be an array");
    for (size_t i = 0; i < j["normalizers"].size(); ++i)
      parse(j["normalizers"][i], where, key + ".normalizers[" + std::to_string(i) + "]");
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    const UnicodeForm f = type == "NFC"    ? UnicodeForm::kNfc
                          : type == "NFD"  ? UnicodeForm::kNfd
                          : type == "NFKC" ? UnicodeForm::kNfkc
                                           : UnicodeForm::kNfkd;
    steps_.push_back({.kind = Step::kUnicode, .form = f});
  } else if (type == "Prepend") {
    steps_.push_back({.kind = Step::kPrepend, .text = str(j, "prepend")});
  } else if (type == "Replace") {
    if (!j.contains("pattern") || !j["pattern"].is_object())
      throw Error(where + ": " + key + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
    const auto& p = j["pattern"];
    Step s{.kind = Step::kReplace, .content = str(j, "content")};
    if (p.contains("String"))
      s.text = str(p, "String");
    else
      s.regex = std::make_shared<Regex>(str(p, "Regex"), false, where + ": " + key + ".pattern.Regex");
    steps_.push_back(std::move(s));
  } else {
    throw Error(where + ": " + key + ".type \"" + type +
                "\" is not supported (supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)");
  }
}

namespace {

std::string replace_all(const std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::string out;
  size_t pos = 0;
  for (size_t at; (at = text.find(from, pos)) != std::string::npos; pos = at + from.size()) {
    out.append(text, pos, at - pos);
    out += to;
  }
  out.append(text, pos);
  return out;
}

}  // namespace

std::string Normalizer::operator()(std::string text) const {
  for (const Step& s : steps_) {
    switch (s.kind) {
      case Step::kUnicode:
        text = unicode_normalize(text, s.form);
        break;
      // huggingface/tokenizers prepends only to non-empty text.
      case Step::kPrepend:
        if (!text.empty()) text = s.text + text;
        break;
      case Step::kReplace:
        if (!s.regex) {
          text = replace_all(text, s.text, s.content);
        } else {
          std::string out;
          size_t pos = 0;
          for (auto [b, e] : s.regex->find_all(text)) {
            out.append(text, pos, b - pos);
            out += s.content;
            pos = e;
          }
          out.append(text, pos);
          text = std::move(out);
        }
        break;
    }
  }
  return text;
}

}  // namespace tf
