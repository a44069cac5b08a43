// GPT-2's byte-level BPE (Radford et al. 2019, openai/gpt-2 src/encoder.py):
//   1. pre-tokenize with GPT-2's regex (PCRE2, Unicode properties);
//   2. map each byte of a piece to one of 256 printable code points (bytes_to_unicode);
//   3. merge adjacent symbols by merges.txt rank, lowest first, until no ranked pair remains.
// Bytes the regex cannot match (invalid UTF-8) become pieces of their own, so encoding is
// lossless for any input.
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace tf {

namespace {

// Decodes the code points of a (valid, small) UTF-8 string; -1 on malformed input.
std::vector<int> utf8_codepoints(const std::string& s) {
  std::vector<int> out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return {-1};
    int cp = n == 1 ? c : c & (0xFF >> (n + 1));
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(const std::string& dir)
      : BpeTokenizer(parse_vocab(dir + "/vocab.json"), dir + "/vocab.json", read_file(dir + "/merges.txt"),
                     dir + "/merges.txt") {}
  // vocab: {token: id}; merges: merges.txt's text. The labels name their origin in messages.
  BpeTokenizer(const nlohmann::json& vocab, const std::string& vocab_label, const std::string& merges,
               const std::string& merges_label) {
    load_vocab(vocab, vocab_label);
    load_merges(merges, merges_label);
  }

  std::vector<int> encode(std::string_view text) const override {
    std::vector<int> ids;
    pre_.split(text, [&](std::string_view piece) { bpe_piece(piece, ids); });
    return ids;
  }
  const std::string& token_bytes(int id) const override {
    return id >= 0 && id < int(bytes_.size()) ? bytes_[id] : no_bytes();
  }
  int vocab_size() const override { return int(bytes_.size()); }
  TokenizerKind kind() const override { return TokenizerKind::kGpt2Bpe; }
  // GPT-2's <|endoftext|> (50256) when the vocabulary has it.
  int eos_id() const override {
    for (int id = int(bytes_.size()) - 1; id >= 0; --id)
      if (bytes_[id] == "<|endoftext|>") return id;
    return -1;
  }

 private:
  static nlohmann::json parse_vocab(const std::string& path) {
    try {
      return nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": invalid JSON (" + e.what() + ")");
    }
  }

  void load_vocab(const nlohmann::json& j, const std::string& path) {
    if (!j.is_object() || j.empty()) throw Error(path + ": expected an object {token: id}");
    const std::vector<int>& cp = bytes_to_unicode();
    std::unordered_map<int, int> inv;
    for (int b = 0; b < 256; ++b) inv[cp[b]] = b;
    bytes_.assign(j.size(), std::string());
    std::vector<bool> seen(j.size(), false);
    for (auto& [tok, v] : j.items()) {
      if (!v.is_number_integer() || v.get<long>() < 0 || v.get<size_t>() >= j.size())
        throw Error(path + ": token " + tok + " has id " + v.dump() + ", not in [0, " + std::to_string(j.size()) + ")");
      const int id = v.get<int>();
      if (seen[id]) throw Error(path + ": id " + std::to_string(id) + " is used twice");
      seen[id] = true;
      std::string raw;
      for (int c : utf8_codepoints(tok)) {
        auto it = inv.find(c);
        // Special tokens such as <|endoftext|> use printable characters only; anything else
        // is not a byte-level token.
        if (it == inv.end()) throw Error(path + ": token " + tok + " is not byte-level BPE");
        raw += char(it->second);
      }
      bytes_[id] = raw;
      id_of_[tok] = id;
    }
    for (int b = 0; b < 256; ++b) {
      auto it = id_of_.find(byte_level_text(std::string(1, char(b))));
      if (it == id_of_.end()) throw Error(path + ": missing the byte token for byte " + std::to_string(b));
      byte_id_[b] = it->second;
    }
  }

  void load_merges(const std::string& text, const std::string& path) {
    std::istringstream in(text);
    std::string line;
    int rank = 0, lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
        throw Error(path + ":" + std::to_string(lineno) + ": expected two symbols separated by one space");
      const std::string a = line.substr(0, sp), b = line.substr(sp + 1);
      auto ia = id_of_.find(a), ib = id_of_.find(b), iab = id_of_.find(a + b);
      if (ia == id_of_.end() || ib == id_of_.end() || iab == id_of_.end())
        throw Error(path + ":" + std::to_string(lineno) + ": merge '" + line +
                    "' uses a symbol missing from vocab.json");
      merges_.emplace(key(ia->second, ib->second), Merge{rank++, iab->second});
    }
  }

  static uint64_t key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

  void bpe_piece(std::string_view piece, std::vector<int>& out) const {
    {
      std::lock_guard<std::mutex> lock(cache_mu_);
      auto it = cache_.find(std::string(piece));
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int> syms;
    for (unsigned char c : piece) syms.push_back(byte_id_[c]);
    while (syms.size() > 1) {
      int best = std::numeric_limits<int>::max(), merged = -1;
      uint64_t best_key = 0;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        auto it = merges_.find(key(syms[i], syms[i + 1]));
        if (it != merges_.end() && it->second.rank < best) {
          best = it->second.rank;
          merged = it->second.id;
          best_key = it->first;
        }
      }
      if (merged < 0) break;
      std::vector<int> next;
      for (size_t i = 0; i < syms.size(); ++i) {
        if (i + 1 < syms.size() && key(syms[i], syms[i + 1]) == best_key) {
          next.push_back(merged);
          ++i;
        } else {
          next.push_back(syms[i]);
        }
      }
      syms.swap(next);
    }
    out.insert(out.end(), syms.begin(), syms.end());
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < 100000) cache_.emplace(std::string(piece), std::move(syms));
  }

  struct Merge {
    int rank, id;
  };
  std::vector<std::string> bytes_;
  std::unordered_map<std::string, int> id_of_;
  int byte_id_[256] = {};
  std::unordered_map<uint64_t, Merge> merges_;
  Gpt2PreTokenizer pre_;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& dir) { return std::make_unique<BpeTokenizer>(dir); }

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::vector<std::string>& tokens,
                                              const std::vector<std::string>& merges, const std::string& label) {
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (vocab.contains(tokens[id])) throw Error(label + ": token " + tokens[id] + " appears twice");
    vocab[tokens[id]] = id;
  }
  std::string text;
  for (const auto& m : merges) text += m + "\n";
  return std::make_unique<BpeTokenizer>(vocab, label + " (tokens)", text, label + " (merges)");
}

}  // namespace tf
