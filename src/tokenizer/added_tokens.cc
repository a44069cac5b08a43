#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode_norm.h"

namespace tf {

AddedTokens::AddedTokens(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return;
  if (!j.is_array()) throw Error(where + ": added_tokens must be an array");
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& t = j[i];
    const std::string key = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || t["id"].get<long>() < 0 ||
        !t.contains("content") || !t["content"].is_string() || t["content"].get<std::string>().empty())
      throw Error(where + ": " + key + " must have a non-negative integer id and a non-empty content");
    auto flag = [&](const char* k) { return t.contains(k) && t[k].is_boolean() && t[k].get<bool>(); };
    tokens_.push_back({.id = t["id"].get<int>(),
                       .content = t["content"].get<std::string>(),
                       .special = flag("special"),
                       .lstrip = flag("lstrip"),
                       .rstrip = flag("rstrip")});
  }
  index();
}

AddedTokens::AddedTokens(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) { index(); }

void AddedTokens::index() {
  by_content_.clear();
  lengths_.clear();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_content_.emplace(tokens_[i].content, int(i));  // the first of equal contents wins
    lengths_.push_back(tokens_[i].content.size());
    first_bytes_.set(static_cast<unsigned char>(tokens_[i].content[0]));
  }
  std::sort(lengths_.begin(), lengths_.end(), std::greater<>());
  lengths_.erase(std::unique(lengths_.begin(), lengths_.end()), lengths_.end());
}

int AddedTokens::find(std::string_view content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? -1 : it->second;
}

namespace {

// Unicode White_Space, what lstrip/rstrip remove (Rust's char::is_whitespace).
bool is_space_cp(int cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}
int decode_cp(std::string_view s, int n) {
  if (n == 1) return static_cast<unsigned char>(s[0]);
  int cp = static_cast<unsigned char>(s[0]) & (0xFF >> (n + 1));
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (s[k] & 0x3F);
  return cp;
}
std::string_view trim_start(std::string_view s) {
  while (!s.empty()) {
    const int n = utf8_char_len(s);
    if (n == 0 || !is_space_cp(decode_cp(s, n))) break;
    s.remove_prefix(n);
  }
  return s;
}
std::string_view trim_end(std::string_view s) {
  while (!s.empty()) {
    size_t start = s.size() - 1;  // back up to the lead byte of the last character
    while (start > 0 && s.size() - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    const std::string_view last = s.substr(start);
    const int n = utf8_char_len(last);
    if (n == 0 || size_t(n) != last.size() || !is_space_cp(decode_cp(last, n))) break;
    s.remove_suffix(n);
  }
  return s;
}

}  // namespace

std::vector<AddedTokens::Piece> AddedTokens::split(std::string_view text) const {
  std::vector<Piece> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    int hit = -1;
    if (first_bytes_.test(static_cast<unsigned char>(text[i]))) {
      for (size_t len : lengths_) {
        if (len > text.size() - i) continue;
        if ((hit = find(text.substr(i, len))) >= 0) break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({text.substr(start, i - start)});
    out.push_back({text.substr(i, tokens_[hit].content.size()), hit});
    i += tokens_[hit].content.size();
    start = i;
  }
  if (start < text.size()) out.push_back({text.substr(start)});
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].token < 0) continue;
    const AddedToken& t = tokens_[out[k].token];
    if (t.lstrip && k > 0 && out[k - 1].token < 0) out[k - 1].text = trim_end(out[k - 1].text);
    if (t.rstrip && k + 1 < out.size() && out[k + 1].token < 0) out[k + 1].text = trim_start(out[k + 1].text);
  }
  std::erase_if(out, [](const Piece& p) { return p.token < 0 && p.text.empty(); });
  return out;
}

}  // namespace tf
