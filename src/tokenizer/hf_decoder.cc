#include "tokenizer/hf_decoder.h"

#include <cctype>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode_norm.h"

namespace tf {

Decoder::Decoder(const nlohmann::json& j, const std::string& where) {
  if (j.is_null())  // huggingface/tokenizers then joins tokens with spaces: not a byte decoding
    throw Error(where +
                ": decoder is null; a decoder chain (ByteLevel, or Replace/ByteFallback/Fuse/Strip) is required");
  parse(j, where, "decoder");
}

void Decoder::parse(const nlohmann::json& j, const std::string& where, const std::string& key) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw Error(where + ": " + key + " must be an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  auto str = [&](const nlohmann::json& o, const char* k) {
    if (!o.contains(k) || !o[k].is_string()) throw Error(where + ": " + key + "." + k + " must be a string");
    return o[k].get<std::string>();
  };
  auto num = [&](const char* k) {
    if (!j.contains(k) || !j[k].is_number_integer() || j[k].get<int>() < 0)
      throw Error(where + ": " + key + "." + k + " must be a non-negative integer");
    return j[k].get<int>();
  };
  auto add = [&](Step s) {
    if (fused_ && s.kind != Step::kStrip)
      throw Error(where + ": " + key + " (" + type + ") after Fuse is not supported");
    (fused_ ? after_fuse_ : per_token_).push_back(std::move(s));
  };
  if (type == "Sequence") {
    if (!j.contains("decoders") || !j["decoders"].is_array())
      throw Error(where + ": " + key + ".decoders must be an array");
    for (size_t i = 0; i < j["decoders"].size(); ++i)
      parse(j["decoders"][i], where, key + ".decoders[" + std::to_string(i) + "]");
  } else if (type == "ByteLevel") {
    add({.kind = Step::kByteLevel});
  } else if (type == "Replace") {
    const auto& p = j.value("pattern", nlohmann::json());
    if (!p.is_object() || !p.contains("String"))
      throw Error(where + ": " + key + ".pattern must be {\"String\": ...} (a Regex pattern is not supported)");
    add({.kind = Step::kReplace, .from = str(p, "String"), .to = str(j, "content")});
  } else if (type == "ByteFallback") {
    add({.kind = Step::kByteFallback});
  } else if (type == "Fuse") {
    fused_ = true;
  } else if (type == "Strip") {
    add({.kind = Step::kStrip, .from = str(j, "content"), .start = num("start"), .stop = num("stop")});
  } else {
    throw Error(where + ": " + key + ".type \"" + type +
                "\" is not supported (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Sequence)");
  }
}

namespace {

void strip(std::string& s, const std::string& c, int start, int stop) {
  if (c.empty()) return;
  for (int i = 0; i < start && s.compare(0, c.size(), c) == 0; ++i) s.erase(0, c.size());
  for (int i = 0; i < stop && s.size() >= c.size() && s.compare(s.size() - c.size(), c.size(), c) == 0; ++i)
    s.resize(s.size() - c.size());
}

// Byte-level stand-ins back to bytes; a token with any other character stays as it is
// (huggingface/tokenizers decoders/byte_level.rs does the same).
std::string byte_level_to_bytes(const std::string& token) {
  static const std::unordered_map<int, char> inverse = [] {
    std::unordered_map<int, char> m;
    const std::vector<int>& cp = bytes_to_unicode();
    for (int b = 0; b < 256; ++b) m[cp[b]] = char(b);
    return m;
  }();
  std::string out;
  for (size_t i = 0; i < token.size();) {
    const int n = utf8_char_len(std::string_view(token).substr(i));
    if (n == 0 || n > 2) return token;
    const int c = n == 1 ? token[i] : ((token[i] & 0x1F) << 6) | (token[i + 1] & 0x3F);
    auto it = inverse.find(c);
    if (it == inverse.end()) return token;
    out += it->second;
    i += n;
  }
  return out;
}

}  // namespace

std::string Decoder::token_bytes(const std::string& token, bool added) const {
  std::string t = token;
  for (const Step& s : per_token_) {
    switch (s.kind) {
      case Step::kByteLevel:
        if (!added) t = byte_level_to_bytes(t);
        break;
      case Step::kReplace: {
        std::string out;
        size_t pos = 0;
        for (size_t at; !s.from.empty() && (at = t.find(s.from, pos)) != std::string::npos; pos = at + s.from.size())
          out.append(t, pos, at - pos).append(s.to);
        t = out.append(t, pos);
        break;
      }
      case Step::kByteFallback:  // "<0x0A>" is the byte 0x0A
        if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
            std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4])))
          t = std::string(1, char(std::stoi(t.substr(3, 2), nullptr, 16)));
        break;
      case Step::kStrip:
        strip(t, s.from, s.start, s.stop);
        break;
    }
  }
  return t;
}

void Decoder::finish(std::string& text) const {
  for (const Step& s : after_fuse_) strip(text, s.from, s.start, s.stop);
}

}  // namespace tf
