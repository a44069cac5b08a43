// The fast BPE trainer (the rule is stated in bpe_train.h). Its naive twin, a full recount per
// merge, lives in bpe_train_test.cc, which holds the two equal merge for merge.
#include "tokenizer/bpe_train.h"

#include <cassert>
#include <queue>

#include "tokenizer/byte_level.h"

namespace tf {

void count_words(std::string_view text, WordCounts& words) {
  static const Gpt2PreTokenizer pre;  // compiled once: PCRE2's JIT costs milliseconds
  pre.split(text, [&](std::string_view piece) { ++words.count[std::string(piece)]; });
  words.bytes += int64_t(text.size());
}

namespace {

// A pair as one integer whose order is the tie-break order: smaller left id, then smaller right.
uint64_t pair_key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int left_of(uint64_t k) { return int(k >> 32); }
int right_of(uint64_t k) { return int(uint32_t(k)); }

struct HeapEntry {
  int64_t count;  // the pair's count when pushed; stale once the pair's count changes
  uint64_t key;
};
// std::priority_queue pops the largest: the higher count, then the smaller key.
bool operator<(const HeapEntry& x, const HeapEntry& y) {
  return x.count != y.count ? x.count < y.count : x.key > y.key;
}

struct Word {
  std::vector<int> sym;
  int64_t count;
  long stamp = -1;  // the last merge that rewrote it; skips repeats in a pair's word list
};

class FastTrainer {
 public:
  explicit FastTrainer(const WordCounts& words) {
    for (int b = 0; b < 256; ++b) model_.tokens.emplace_back(1, char(b));
    // Single-byte words hold no pair and never change; leave them out.
    for (const auto& [text, count] : words.count) {
      if (text.size() < 2) continue;
      Word w{.sym = {}, .count = count};
      for (unsigned char c : text) w.sym.push_back(c);
      words_.push_back(std::move(w));
    }
    for (int w = 0; w < int(words_.size()); ++w) {
      const auto& s = words_[w].sym;
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        pair_count_[k] += words_[w].count;
        note_holder(k, w);
      }
    }
    for (const auto& [k, c] : pair_count_) heap_.push({c, k});
  }

  LearnedBpe run(const BpeTrainOptions& opt) {
    uint64_t best;
    while (int(model_.tokens.size()) < opt.vocab_size && pop_best(best)) {
      merge(best);
      if (opt.on_progress) opt.on_progress({int(model_.tokens.size()), opt.vocab_size, merges_done_});
    }
    return std::move(model_);
  }

 private:
  void note_holder(uint64_t k, int w) {
    auto& v = where_[k];
    if (v.empty() || v.back() != w) v.push_back(w);
  }

  // The pair with the highest current count (ties: smallest key). Entries are never updated in
  // place: a pair whose count rose was pushed again after that merge, so an entry above its
  // pair's count is stale and goes back with the current count, one below it is dropped.
  bool pop_best(uint64_t& best) {
    while (!heap_.empty()) {
      const HeapEntry e = heap_.top();
      heap_.pop();
      const auto it = pair_count_.find(e.key);
      const int64_t now = it == pair_count_.end() ? 0 : it->second;
      if (now == e.count) {
        best = e.key;
        return true;
      }
      if (now > 0 && now < e.count) heap_.push({now, e.key});
    }
    return false;
  }

  void merge(uint64_t best) {
    const int a = left_of(best), b = right_of(best);
    const int x = int(model_.tokens.size());  // always a new token, as bpe_train.h argues
    model_.tokens.push_back(model_.tokens[a] + model_.tokens[b]);
    model_.merges.emplace_back(a, b);
    ++merges_done_;

    std::unordered_map<uint64_t, int64_t> delta;  // this merge's change to each pair's count
    const std::vector<int> holders = std::move(where_[best]);
    where_.erase(best);
    std::vector<int> next;
    for (const int w : holders) {
      Word& word = words_[w];
      if (word.stamp == merges_done_) continue;
      word.stamp = merges_done_;
      std::vector<int>& s = word.sym;
      bool holds = false;
      for (size_t i = 0; i + 1 < s.size() && !holds; ++i) holds = s[i] == a && s[i + 1] == b;
      if (!holds) continue;  // listed before an earlier merge took the pair out of it
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= word.count;
      next.clear();
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          next.push_back(x);
          ++i;
        } else {
          next.push_back(s[i]);
        }
      }
      for (size_t i = 0; i + 1 < next.size(); ++i) {
        const uint64_t k = pair_key(next[i], next[i + 1]);
        delta[k] += word.count;
        // Pairs away from x were already in this word, which their lists hold.
        if (next[i] == x || next[i + 1] == x) note_holder(k, w);
      }
      s.swap(next);
    }
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count_[k];
      c += d;
      assert(c >= 0);
      if (c == 0) {
        pair_count_.erase(k);
      } else if (d > 0) {
        heap_.push({c, k});  // a fallen count is re-pushed lazily by pop_best
      }
    }
    assert(!pair_count_.count(best));
  }

  LearnedBpe model_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> pair_count_;      // pairs with count > 0 only
  std::unordered_map<uint64_t, std::vector<int>> where_;  // pair -> words that held it (may be stale)
  std::priority_queue<HeapEntry> heap_;
  long merges_done_ = 0;
};

}  // namespace

LearnedBpe train_bpe(const WordCounts& words, const BpeTrainOptions& opt) { return FastTrainer(words).run(opt); }

}  // namespace tf
