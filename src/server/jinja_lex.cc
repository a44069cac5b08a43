// Jinja lexing: the template into text and tags, a tag into tokens.
#include "core/error.h"
#include "server/jinja.h"

namespace tf::jinja {

namespace {

// @huggingface/jinja's preprocessing (lstrip_blocks, trim_blocks, the final newline).
std::string preprocess(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (i == 0 || s[i - 1] == '\n') {  // a line start: spaces before a block tag go
      size_t k = i;
      while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
      if (k + 1 < s.size() && s[k] == '{' && (s[k + 1] == '#' || s[k + 1] == '%' || s[k + 1] == '-')) i = k;
    }
    out += s[i++];
  }
  std::string trimmed;
  for (size_t i = 0; i < out.size(); ++i) {
    trimmed += out[i];
    if (out[i] == '}' && i > 0 && (out[i - 1] == '%' || out[i - 1] == '#' || out[i - 1] == '-') && i + 1 < out.size() &&
        out[i + 1] == '\n')
      ++i;  // trim_blocks: the newline after a block tag goes
  }
  return trimmed;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Tokens from s[i] up to the tag's close ("}}" or "%}", with an optional '-'); i ends past it.
std::vector<Token> lex_tag(const std::string& s, size_t& i, const char* close, bool& strip_after) {
  std::vector<Token> out;
  static const char* kOps[] = {"==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "<",
                               ">",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|", "=", "!"};
  while (true) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) throw Error("chat template: a tag is not closed");
    if (s[i] == '-' && s.compare(i + 1, 2, close) == 0) {
      strip_after = true;
      i += 3;
      return out;
    }
    if (s.compare(i, 2, close) == 0) {
      i += 2;
      return out;
    }
    const char c = s[i];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t k = i;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
      out.push_back({Token::kName, s.substr(i, k - i), {}});
      i = k;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t k = i;
      while (k < s.size() && (std::isdigit(static_cast<unsigned char>(s[k])) || s[k] == '.')) ++k;
      const std::string t = s.substr(i, k - i);
      out.push_back({Token::kNumber, t, t.find('.') == std::string::npos ? json(std::stol(t)) : json(std::stod(t))});
      i = k;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t k = i + 1;
      for (; k < s.size() && s[k] != c; ++k) {
        if (s[k] != '\\' || k + 1 >= s.size()) {
          v += s[k];
          continue;
        }
        const char e = s[++k];
        v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
      if (k >= s.size()) throw Error("chat template: a string is not closed");
      out.push_back({Token::kString, v, {}});
      i = k + 1;
    } else {
      bool found = false;
      for (const char* op : kOps)
        if (s.compare(i, std::strlen(op), op) == 0) {
          out.push_back({Token::kOp, op, {}});
          i += std::strlen(op);
          found = true;
          break;
        }
      if (!found) throw Error(std::string("chat template: unexpected character '") + c + "'");
    }
  }
}

}  // namespace

std::vector<Item> lex(const std::string& source) {
  const std::string s = preprocess(source);
  std::vector<Item> items;
  bool strip_next = false;  // the previous tag ended with '-'
  size_t i = 0;
  auto add_text = [&](std::string t, bool strip_end) {
    if (strip_next) t.erase(0, std::find_if(t.begin(), t.end(), [](char c) { return !is_space(c); }) - t.begin());
    if (strip_end)
      while (!t.empty() && is_space(t.back())) t.pop_back();
    strip_next = false;
    if (!t.empty()) items.push_back({Item::kText, t, {}});
  };
  while (i < s.size()) {
    size_t open = i;
    while (open < s.size() && !(s[open] == '{' && open + 1 < s.size() && std::strchr("{%#", s[open + 1]))) ++open;
    if (open >= s.size()) {
      add_text(s.substr(i), false);
      break;
    }
    const char kind = s[open + 1];
    const bool strip_before = open + 2 < s.size() && s[open + 2] == '-';
    add_text(s.substr(i, open - i), strip_before);
    i = open + 2 + (strip_before ? 1 : 0);
    if (kind == '#') {
      const size_t end = s.find("#}", i);
      if (end == std::string::npos) throw Error("chat template: a comment is not closed");
      strip_next = end > 0 && s[end - 1] == '-';
      i = end + 2;
      continue;
    }
    bool strip_after = false;
    std::vector<Token> toks = lex_tag(s, i, kind == '{' ? "}}" : "%}", strip_after);
    items.push_back({kind == '{' ? Item::kOutput : Item::kTag, "", std::move(toks)});
    strip_next = strip_after;
  }
  return items;
}

}  // namespace tf::jinja
