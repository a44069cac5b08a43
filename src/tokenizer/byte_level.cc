#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/byte_level.h"

#include <pcre2.h>

#include "core/error.h"

namespace tf {

const std::vector<int>& bytes_to_unicode() {
  static const std::vector<int> table = [] {
    std::vector<int> cp(256, -1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      cp[b] = printable ? b : next++;
    }
    return cp;
  }();
  return table;
}

std::string byte_level_text(std::string_view bytes) {
  const std::vector<int>& cp = bytes_to_unicode();
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    const int c = cp[b];  // < 0x800 always: two UTF-8 bytes at most
    if (c < 0x80) {
      s += char(c);
    } else {
      s += char(0xC0 | (c >> 6));
      s += char(0x80 | (c & 0x3F));
    }
  }
  return s;
}

Gpt2PreTokenizer::Gpt2PreTokenizer() {
  int err = 0;
  PCRE2_SIZE off = 0;
  re_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
  if (!re_) throw Error("cannot compile GPT-2's pre-tokenizer pattern (PCRE2 error " + std::to_string(err) + ")");
  pcre2_jit_compile(re_, PCRE2_JIT_COMPLETE);  // a speed-up only; falls back when absent
}

Gpt2PreTokenizer::~Gpt2PreTokenizer() { pcre2_code_free(re_); }

void Gpt2PreTokenizer::split(std::string_view text, const std::function<void(std::string_view)>& on_piece) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re_, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(re_, subject, text.size(), pos, 0, md, nullptr);
    size_t s = text.size(), e = text.size();
    if (rc > 0) {
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      s = ov[0];
      e = ov[1];
    }
    if (s > pos) on_piece(text.substr(pos, s - pos));  // bytes no pattern matched
    if (e == s) break;
    on_piece(text.substr(s, e - s));
    pos = e;
  }
  pcre2_match_data_free(md);
}

}  // namespace tf
