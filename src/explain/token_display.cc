#include "explain/token_display.h"

#include <cstdio>

namespace tf {

namespace {

// Length of the complete UTF-8 character starting at s[i], or 0 when s[i] does not start one
// (a continuation byte, a truncated sequence, an overlong or out-of-range lead byte).
size_t utf8_char_len(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || (n == 2 && b < 0xC2) || (n == 4 && b > 0xF4) || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

std::string hex_byte(unsigned char b, const char* fmt) {
  char buf[8];
  std::snprintf(buf, sizeof buf, fmt, b);
  return buf;
}

}  // namespace

std::string token_display(std::string_view s) {
  if (s.empty()) return "∅";
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_char_len(s, i);
    if (b == ' ')
      out += "␣";
    else if (b == '\n')
      out += "↵";
    else if (b == '\t')
      out += "⇥";
    else if (b == '\r')
      out += "⏎";
    else if (n == 0 || b < 0x20 || b == 0x7F)
      out += hex_byte(b, "<0x%02X>");
    else
      out.append(s.substr(i, n));
    i += n ? n : 1;
  }
  return out;
}

std::string token_raw_text(std::string_view s) {
  std::string q = "\"", hex;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_char_len(s, i);
    if (b == '\n')
      q += "\\n";
    else if (b == '\t')
      q += "\\t";
    else if (b == '\r')
      q += "\\r";
    else if (b == '"' || b == '\\')
      q += std::string("\\") + char(b);
    else if (n == 0 || b < 0x20 || b == 0x7F)
      q += hex_byte(b, "\\x%02x");
    else
      q.append(s.substr(i, n));
    i += n ? n : 1;
  }
  for (unsigned char b : s) {
    if (!hex.empty()) hex += ' ';  // appended apart: GCC 12 warns (-Wrestrict, a false alarm) on "" + string
    hex += hex_byte(b, "%02x");
  }
  return q + "\" · " + (hex.empty() ? "no bytes" : hex);
}

size_t display_width(std::string_view s) {
  size_t w = 0;
  for (unsigned char b : s) w += (b & 0xC0) != 0x80;
  return w;
}

}  // namespace tf
