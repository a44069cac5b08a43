// Unicode normalization forms (UAX #15) for Hugging Face tokenizers' NFC/NFD/NFKC/NFKD
// normalizers, done by ICU. Input may hold invalid UTF-8: each maximal valid run is
// normalized and the invalid bytes between runs are kept as they are, so byte-level
// tokenizers stay lossless for any input.
#pragma once
#include <string>
#include <string_view>

namespace tf {

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };

std::string unicode_normalize(std::string_view utf8, UnicodeForm form);

// Length of the valid UTF-8 sequence starting at s[0] (1-4), or 0 when s[0] does not start
// one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated).
int utf8_char_len(std::string_view s);

}  // namespace tf
