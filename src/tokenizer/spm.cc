#include "tokenizer/spm.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <queue>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/string_hash.h"

namespace tf {

namespace {

constexpr std::string_view kSpace = "\u2581";  // "▁", sentencepiece's spelling of " "

// Bytes in the UTF-8 character that starts with b, by its high nibble (llama.cpp's
// unicode_len_utf8: a stray continuation byte is a character of its own).
size_t utf8_len(unsigned char b) {
  static constexpr size_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[b >> 4];
}

class SpmTokenizer final : public Tokenizer {
 public:
  SpmTokenizer(SpmVocab v, const std::string& label) : v_(std::move(v)) {
    const size_t n = v_.tokens.size();
    if (v_.scores.size() != n || v_.types.size() != n)
      throw Error(label + ": " + std::to_string(n) + " tokens but " + std::to_string(v_.scores.size()) +
                  " scores and " + std::to_string(v_.types.size()) + " token types");
    std::vector<AddedToken> specials;
    bytes_.resize(n);
    for (size_t id = 0; id < n; ++id) {
      const std::string& t = v_.tokens[id];
      if (!ids_.emplace(t, int(id)).second)
        throw Error(label + ": token " + t + " appears twice (ids " + std::to_string(ids_[t]) + " and " +
                    std::to_string(id) + ")");
      const int32_t type = v_.types[id];
      if (type == kTokenControl || type == kTokenUnknown || type == kTokenUserDefined) {
        if (!t.empty()) specials.push_back({.id = int(id), .content = t, .special = type != kTokenUserDefined});
        bytes_[id] = t;
      } else if (type == kTokenNormal) {
        for (size_t i = 0; i < t.size();) {
          const bool space = t.compare(i, kSpace.size(), kSpace) == 0;
          bytes_[id] += space ? std::string(" ") : t.substr(i, 1);
          i += space ? kSpace.size() : 1;
        }
      } else if (type == kTokenByte && t.size() == 6 && t.starts_with("<0x") && t.ends_with(">") &&
                 std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]))) {
        bytes_[id] = std::string(1, char(std::strtol(t.substr(3, 2).c_str(), nullptr, 16)));
      }  // UNUSED, malformed BYTE and anything else decode to nothing
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_ids_[b] = id_of(name);
      if (byte_ids_[b] < 0) byte_ids_[b] = id_of(std::string(1, char(b)));
    }
    specials_ = AddedTokens(std::move(specials));
    if (v_.add_bos && v_.bos >= 0) prefix_ = {v_.bos};
    if (v_.add_eos && v_.eos >= 0) suffix_ = {v_.eos};
  }

  std::vector<int> encode(std::string_view text) const override {
    std::vector<int> ids;
    bool after_special = true;  // the text's start counts as one
    for (const AddedTokens::Piece& p : specials_.split(text)) {
      if (p.token >= 0) {
        ids.push_back(specials_.tokens()[p.token].id);
        after_special = true;
        continue;
      }
      std::string s = v_.add_space_prefix && after_special ? std::string(kSpace) : std::string();
      for (char c : p.text) s += c == ' ' ? std::string(kSpace) : std::string(1, c);
      merge(s, ids);
      after_special = false;
    }
    return ids;
  }

  std::string decode(std::span<const int> ids) const override {
    std::string out = Tokenizer::decode(ids);
    if (v_.add_space_prefix && !ids.empty() && token_bytes(ids[0]).starts_with(' ')) out.erase(0, 1);
    return out;
  }
  const std::string& token_bytes(int id) const override {
    return id >= 0 && id < int(bytes_.size()) ? bytes_[size_t(id)] : no_bytes();
  }
  int vocab_size() const override { return int(bytes_.size()); }
  TokenizerKind kind() const override { return TokenizerKind::kSpm; }
  int bos_id() const override { return v_.bos; }
  int eos_id() const override { return v_.eos; }
  bool is_special(int id) const override {
    return id >= 0 && id < vocab_size() &&
           (v_.types[size_t(id)] == kTokenControl || v_.types[size_t(id)] == kTokenUnknown);
  }
  std::vector<int> prefix_ids() const override { return prefix_; }
  std::vector<int> suffix_ids() const override { return suffix_; }

 private:
  int id_of(std::string_view t) const {
    const auto it = ids_.find(t);
    return it == ids_.end() ? -1 : it->second;
  }

  // One stretch, spaces already "▁": llama.cpp's work queue of adjacent pairs whose
  // concatenation is a token, best score first, then the leftmost. A pair goes stale when
  // either side merges elsewhere; its recorded length no longer matches and it is skipped.
  // O(n log n) for n characters.
  void merge(const std::string& s, std::vector<int>& out) const {
    struct Symbol {
      int prev, next;
      size_t start, n;
    };
    struct Pair {
      float score;
      int left, right;
      size_t n;
      bool operator<(const Pair& o) const { return score < o.score || (score == o.score && left > o.left); }
    };
    std::vector<Symbol> sym;
    for (size_t i = 0; i < s.size();) {
      const size_t n = std::min(utf8_len(static_cast<unsigned char>(s[i])), s.size() - i);
      const int k = int(sym.size());
      sym.push_back({k - 1, i + n == s.size() ? -1 : k + 1, i, n});
      i += n;
    }
    std::priority_queue<Pair> queue;
    auto try_pair = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      const size_t n = sym[size_t(l)].n + sym[size_t(r)].n;
      const int id = id_of(std::string_view(s).substr(sym[size_t(l)].start, n));
      if (id >= 0) queue.push({v_.scores[size_t(id)], l, r, n});
    };
    for (int i = 1; i < int(sym.size()); ++i) try_pair(i - 1, i);
    while (!queue.empty()) {
      const Pair p = queue.top();
      queue.pop();
      Symbol &l = sym[size_t(p.left)], &r = sym[size_t(p.right)];
      if (l.n == 0 || r.n == 0 || l.n + r.n != p.n) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) sym[size_t(r.next)].prev = p.left;
      try_pair(l.prev, p.left);
      try_pair(p.left, l.next);
    }
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[size_t(i)].next) {
      const std::string_view piece = std::string_view(s).substr(sym[size_t(i)].start, sym[size_t(i)].n);
      if (const int id = id_of(piece); id >= 0) {
        out.push_back(id);
        continue;
      }
      // Merged symbols are tokens by construction, so this is one character the vocabulary
      // lacks: byte fallback (llama.cpp throws where even that is missing; <unk> here).
      for (char c : piece) {
        const int b = byte_ids_[static_cast<unsigned char>(c)];
        if (b >= 0 || v_.unk >= 0) out.push_back(b >= 0 ? b : v_.unk);
      }
    }
  }

  SpmVocab v_;
  StringMap<int> ids_;
  std::vector<std::string> bytes_;
  AddedTokens specials_;
  int byte_ids_[256];
  std::vector<int> prefix_, suffix_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(SpmVocab v, const std::string& label) {
  return std::make_unique<SpmTokenizer>(std::move(v), label);
}

}  // namespace tf
