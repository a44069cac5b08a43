// A compiled PCRE2 pattern with Unicode properties, for the regexes of tokenizer.json
// (Split pre-tokenizers, Replace normalizers). Matching skips invalid UTF-8 instead of failing
// (PCRE2_MATCH_INVALID_UTF), so the bytes between matches stay in the caller's hands.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace tf {

class Regex {
 public:
  // literal: match the pattern as plain text. Throws Error(what + message) on a bad pattern.
  Regex(const std::string& pattern, bool literal, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Every non-overlapping match, left to right, as [begin, end) byte offsets; empty matches
  // are skipped.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  pcre2_real_code_8* code_ = nullptr;
};

}  // namespace tf
