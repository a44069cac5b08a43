#include "tokenizer/spm.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "core/error.h"
#include "core/rng.h"

namespace tf {
namespace {

const std::string kSp = "\u2581";

// A small random vocabulary: <unk> <s> </s>, the 256 byte tokens, the characters ▁ a b c é,
// then random concatenations of them with scores from a few values, so that ties are common.
SpmVocab random_vocab(Rng& r, int extra) {
  SpmVocab v;
  auto add = [&](const std::string& t, float score, int32_t type) {
    for (const auto& u : v.tokens)
      if (u == t) return;
    v.tokens.push_back(t);
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, kTokenUnknown);
  add("<s>", 0, kTokenControl);
  add("</s>", 0, kTokenControl);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 0, kTokenByte);
  }
  const std::string chars[] = {kSp, "a", "b", "c", "\u00e9"};
  for (const auto& c : chars) add(c, -100, kTokenNormal);
  for (int k = 0; k < extra; ++k) {
    std::string t;
    const int len = 2 + int(r.next() % 4);
    for (int i = 0; i < len; ++i) t += chars[r.next() % 5];
    add(t, -float(r.next() % 6), kTokenNormal);
  }
  v.bos = 1, v.eos = 2, v.unk = 0;
  return v;
}

// The naive twin: scan every adjacent pair, merge the best (strictly higher score wins, so the
// leftmost among equals), repeat; leftovers are byte tokens.
std::vector<int> naive_encode(const SpmVocab& v, const std::string& text) {
  std::map<std::string, int> id;
  for (size_t i = 0; i < v.tokens.size(); ++i) id[v.tokens[i]] = int(i);
  std::string s = kSp;
  for (char c : text) s += c == ' ' ? kSp : std::string(1, c);
  std::vector<std::string> sym;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = std::min<size_t>(b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4, s.size() - i);
    sym.push_back(s.substr(i, n));
    i += n;
  }
  for (;;) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      const auto it = id.find(sym[i] + sym[i + 1]);
      if (it == id.end()) continue;
      const float sc = v.scores[size_t(it->second)];
      if (best < 0 || sc > best_score) best = int(i), best_score = sc;
    }
    if (best < 0) break;
    sym[size_t(best)] += sym[size_t(best) + 1];
    sym.erase(sym.begin() + best + 1);
  }
  std::vector<int> out;
  for (const auto& t : sym) {
    if (id.contains(t)) {
      out.push_back(id[t]);
      continue;
    }
    for (char c : t) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(c));
      out.push_back(id.at(name));
    }
  }
  return out;
}

TEST(SpmTokenizer, MergeOrderMatchesNaiveTwin) {
  Rng r(11);
  const char* pieces[] = {"a", "b", "c", " ", "\u00e9", "d", "ab", "  "};
  for (int trial = 0; trial < 200; ++trial) {
    const SpmVocab v = random_vocab(r, 5 + int(r.next() % 60));
    const auto tok = make_spm_tokenizer(v, "test");
    for (int k = 0; k < 10; ++k) {
      std::string text;
      const int len = 1 + int(r.next() % 24);
      for (int i = 0; i < len; ++i) text += pieces[r.next() % 8];
      ASSERT_EQ(tok->encode(text), naive_encode(v, text)) << "trial " << trial << " text '" << text << "'";
      ASSERT_EQ(tok->decode(tok->encode(text)), text) << "trial " << trial;
    }
  }
}

TEST(SpmTokenizer, SpecialTokensCutAndPrefixSpace) {
  Rng r(3);
  SpmVocab v = random_vocab(r, 30);
  const auto tok = make_spm_tokenizer(v, "test");
  // After a special token the next stretch gets the "▁" prefix again, as at the start.
  std::vector<int> want = naive_encode(v, "ab");
  want.push_back(2);
  for (int id : naive_encode(v, "c a")) want.push_back(id);
  EXPECT_EQ(tok->encode("ab</s>c a"), want);
  EXPECT_EQ(tok->prefix_ids(), std::vector<int>{1});
  EXPECT_EQ(tok->decode(want), "ab</s> c a");  // only the first piece loses its space

  v.add_space_prefix = false;
  const auto bare = make_spm_tokenizer(v, "test");
  EXPECT_EQ(bare->decode(bare->encode(" a b")), " a b");
}

TEST(SpmTokenizer, RejectsMismatchedLengthsAndRepeats) {
  Rng r(5);
  SpmVocab v = random_vocab(r, 3);
  v.scores.pop_back();
  EXPECT_THROW(make_spm_tokenizer(v, "x.gguf"), Error);
  v = random_vocab(r, 3);
  v.tokens[5] = v.tokens[4];
  EXPECT_THROW(make_spm_tokenizer(v, "x.gguf"), Error);
}

}  // namespace
}  // namespace tf
