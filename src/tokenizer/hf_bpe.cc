#include "tokenizer/hf_bpe.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/unicode_norm.h"

namespace tf {

namespace {

// Words longer than this are rarely seen twice; caching them would only grow memory.
constexpr size_t kMaxCachedWord = 256;
constexpr size_t kMaxCacheEntries = 200000;

bool is_null_or(const nlohmann::json& m, const char* key, auto ok) {
  return !m.contains(key) || m[key].is_null() || ok(m[key]);
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& m, const std::string& where) {
  auto bad = [&](const std::string& key, const std::string& why) {
    return Error(where + ": model." + key + " " + why);
  };
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw bad("vocab", "must be an object {token: id}");
  if (!m.contains("merges") || !m["merges"].is_array()) throw bad("merges", "must be an array");
  // Options that change what a word encodes to and that we do not implement are refused
  // rather than ignored: an encoder that quietly differs from the model's is worse than none.
  if (!is_null_or(m, "dropout", [](const auto& v) { return v.is_number() && v.template get<double>() == 0.0; }))
    throw bad("dropout", "is set; only deterministic BPE (dropout null) is supported");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!is_null_or(m, k, [](const auto& v) { return v.is_string() && v.template get<std::string>().empty(); }))
      throw bad(k, "is set; it is not supported");
  auto flag = [&](const char* k) {
    if (!m.contains(k) || m[k].is_null()) return false;
    if (!m[k].is_boolean()) throw bad(k, "must be true or false");
    return m[k].get<bool>();
  };
  byte_fallback_ = flag("byte_fallback");
  fuse_unk_ = flag("fuse_unk");
  ignore_merges_ = flag("ignore_merges");

  int max_id = -1;
  for (auto& [tok, v] : m["vocab"].items()) {
    if (!v.is_number_integer() || v.get<long>() < 0 || v.get<long>() > (1L << 30))
      throw bad("vocab", "token " + tok + " has id " + v.dump() + ", not a non-negative integer");
    ids_.emplace(tok, v.get<int>());
    max_id = std::max(max_id, v.get<int>());
  }
  tokens_.assign(size_t(max_id) + 1, std::string());
  for (const auto& [tok, id] : ids_) tokens_[id] = tok;

  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    unk_id_ = id_of(m["unk_token"].get<std::string>());
    if (unk_id_ < 0) throw bad("unk_token", m["unk_token"].dump() + " is not in the vocabulary");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = byte_fallback_ ? id_of(name) : -1;
  }

  int rank = 0;
  for (const auto& mg : m["merges"]) {
    std::string a, b;
    if (mg.is_string()) {  // "a b": the old format, ambiguous for tokens holding a space
      const std::string s = mg.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        throw bad("merges", "entry " + mg.dump() + " is not two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
      a = mg[0].get<std::string>();
      b = mg[1].get<std::string>();
    } else {
      throw bad("merges", "entry " + mg.dump() + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    const int ia = id_of(a), ib = id_of(b), iab = id_of(a + b);
    if (ia < 0 || ib < 0 || iab < 0)
      throw bad("merges", "entry " + mg.dump() + " uses a token missing from model.vocab");
    // A repeated pair keeps its first (lowest) rank, as the ranks are positions in the list.
    merges_.emplace(pair_key(ia, ib), Merge{rank, iab});
    ++rank;
  }
}

int BpeModel::id_of(std::string_view token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int>& syms) const {
  bool prev_unk = false;
  for (size_t i = 0; i < word.size();) {
    // Invalid UTF-8 (possible outside byte-level BPE) is a one-byte character of its own.
    const size_t n = std::max(1, utf8_char_len(word.substr(i)));
    const std::string_view ch = word.substr(i, n);
    i += n;
    const int id = id_of(ch);
    if (id >= 0) {
      syms.push_back(id);
      prev_unk = false;
      continue;
    }
    bool all_bytes = byte_fallback_;
    for (unsigned char c : ch) all_bytes = all_bytes && byte_ids_[c] >= 0;
    if (all_bytes) {
      for (unsigned char c : ch) syms.push_back(byte_ids_[c]);
      prev_unk = false;
      continue;
    }
    if (unk_id_ < 0)
      throw Error("BPE: the character '" + std::string(ch) +
                  "' is not in the vocabulary and the model has no unk_token");
    if (!(fuse_unk_ && prev_unk)) syms.push_back(unk_id_);
    prev_unk = true;
  }
}

void BpeModel::merge_symbols(std::vector<int>& syms) const {
  const int n = int(syms.size());
  if (n < 2) return;
  // A doubly linked list over positions; a merge keeps the left position and kills the right.
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int rank, left, left_id, right_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;  // lowest rank, then leftmost
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const int right = next[left];
    auto it = merges_.find(pair_key(syms[left], syms[right]));
    if (it != merges_.end()) heap.push({it->second.rank, left, syms[left], syms[right]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  std::vector<bool> dead(n, false);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int right = next[c.left];
    // Stale: either side merged since this pair was queued.
    if (dead[c.left] || right < 0 || syms[c.left] != c.left_id || syms[right] != c.right_id) continue;
    syms[c.left] = merges_.at(pair_key(c.left_id, c.right_id)).id;
    dead[right] = true;
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    push(prev[c.left]);
    push(c.left);
  }
  int w = 0;
  for (int i = 0; i >= 0; i = next[i]) syms[w++] = syms[i];
  syms.resize(w);
}

void BpeModel::encode(std::string_view word, std::vector<int>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const int id = id_of(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> syms;
  initial_symbols(word, syms);
  merge_symbols(syms);
  out.insert(out.end(), syms.begin(), syms.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < kMaxCacheEntries) cache_.emplace(std::string(word), std::move(syms));
  }
}

}  // namespace tf
