#include "tokenizer/unicode_norm.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <vector>

#include "core/error.h"

namespace tf {

int utf8_char_len(std::string_view s) {
  if (s.empty()) return 0;
  const unsigned char c = s[0];
  if (c < 0x80) return 1;
  int n;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Unicode table 3-7)
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < size_t(n)) return 0;
  const unsigned char c1 = s[1];
  if (c1 < lo || c1 > hi) return 0;
  for (int k = 2; k < n; ++k)
    if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) return 0;
  return n;
}

namespace {

const UNormalizer2* instance(UnicodeForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* n = nullptr;
  switch (form) {
    case UnicodeForm::kNfc:
      n = unorm2_getNFCInstance(&err);
      break;
    case UnicodeForm::kNfd:
      n = unorm2_getNFDInstance(&err);
      break;
    case UnicodeForm::kNfkc:
      n = unorm2_getNFKCInstance(&err);
      break;
    case UnicodeForm::kNfkd:
      n = unorm2_getNFKDInstance(&err);
      break;
  }
  if (U_FAILURE(err)) throw Error(std::string("ICU normalizer unavailable: ") + u_errorName(err));
  return n;
}

// Normalizes one valid UTF-8 run through UTF-16, ICU's working encoding.
void normalize_valid(std::string_view run, const UNormalizer2* norm, std::string& out) {
  UErrorCode err = U_ZERO_ERROR;
  std::vector<UChar> u16(run.size() + 1);
  int32_t n16 = 0;
  u_strFromUTF8(u16.data(), int32_t(u16.size()), &n16, run.data(), int32_t(run.size()), &err);
  if (U_FAILURE(err)) throw Error(std::string("UTF-8 to UTF-16 failed: ") + u_errorName(err));
  // Decomposition can grow text (NFKD of U+FDFA is 18 code units); retry with ICU's size.
  std::vector<UChar> norm16(size_t(n16) * 3 + 16);
  int32_t m = unorm2_normalize(norm, u16.data(), n16, norm16.data(), int32_t(norm16.size()), &err);
  if (err == U_BUFFER_OVERFLOW_ERROR) {
    err = U_ZERO_ERROR;
    norm16.resize(size_t(m));
    m = unorm2_normalize(norm, u16.data(), n16, norm16.data(), m, &err);
  }
  if (U_FAILURE(err)) throw Error(std::string("Unicode normalization failed: ") + u_errorName(err));
  int32_t n8 = 0;
  err = U_ZERO_ERROR;
  u_strToUTF8(nullptr, 0, &n8, norm16.data(), m, &err);  // preflight for the size
  err = U_ZERO_ERROR;
  const size_t at = out.size();
  out.resize(at + size_t(n8));
  u_strToUTF8(out.data() + at, n8, nullptr, norm16.data(), m, &err);
  if (U_FAILURE(err)) throw Error(std::string("UTF-16 to UTF-8 failed: ") + u_errorName(err));
}

}  // namespace

std::string unicode_normalize(std::string_view s, UnicodeForm form) {
  const UNormalizer2* norm = instance(form);
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size()) {
      const int n = utf8_char_len(s.substr(j));
      if (n == 0) break;
      j += n;
    }
    if (j > i) normalize_valid(s.substr(i, j - i), norm, out);
    if (j < s.size()) out += s[j++];  // an invalid byte, kept
    i = j;
  }
  return out;
}

}  // namespace tf
