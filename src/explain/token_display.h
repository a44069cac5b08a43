// How the walkthrough shows a token: every byte visible. A real tokenizer's tokens carry spaces,
// newlines, tabs, control bytes and pieces of UTF-8 characters; printed raw they are blank chips
// and blank row labels, so the terminal and the page both draw them through token_display().
#pragma once
#include <string>
#include <string_view>

namespace tf {

// Visible form of a token's bytes, always valid UTF-8: ' ' → ␣, '\n' → ↵, '\t' → ⇥, '\r' → ⏎,
// other control bytes, DEL and bytes that do not form a complete UTF-8 character → <0xNN>;
// complete UTF-8 characters are kept. The empty token shows as ∅.
std::string token_display(std::string_view bytes);

// The raw text for a tooltip, always valid UTF-8: the bytes as a quoted string with C escapes
// (\n, \t, \xNN for invalid UTF-8), then the bytes in hex: "\" And\" · 20 41 6e 64".
std::string token_raw_text(std::string_view bytes);

// Terminal columns of a valid UTF-8 string (one per code point: the symbols above are narrow).
size_t display_width(std::string_view utf8);

}  // namespace tf
