#include "tokenizer/bpe_train.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace tf {
namespace {

namespace fs = std::filesystem;

// ---- the naive twin: every merge recounts every pair of every word (bpe_train.h's rule,
// written as plainly as it reads).
LearnedBpe train_bpe_naive(const WordCounts& wc, int vocab_size) {
  LearnedBpe m;
  for (int b = 0; b < 256; ++b) m.tokens.emplace_back(1, char(b));
  std::vector<std::pair<std::vector<int>, int64_t>> words;
  for (const auto& [text, count] : wc.count) words.push_back({std::vector<int>(text.begin(), text.end()), count});
  for (auto& [w, c] : words)
    for (int& s : w) s &= 0xFF;  // char may be signed
  while (int(m.tokens.size()) < vocab_size) {
    std::map<std::pair<int, int>, int64_t> counts;
    for (const auto& [w, c] : words)
      for (size_t i = 0; i + 1 < w.size(); ++i) counts[{w[i], w[i + 1]}] += c;
    if (counts.empty()) break;
    std::pair<int, int> best;
    int64_t best_count = 0;
    for (const auto& [p, c] : counts)  // ascending pairs: the first of the highest count wins
      if (c > best_count) best = p, best_count = c;
    const int x = int(m.tokens.size());
    m.tokens.push_back(m.tokens[best.first] + m.tokens[best.second]);
    m.merges.push_back(best);
    for (auto& [w, c] : words) {
      std::vector<int> next;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == best.first && w[i + 1] == best.second) {
          next.push_back(x);
          ++i;
        } else {
          next.push_back(w[i]);
        }
      }
      w = next;
    }
  }
  return m;
}

WordCounts words_of(std::initializer_list<std::pair<const char*, int64_t>> list) {
  WordCounts wc;
  for (const auto& [w, c] : list) wc.count[w] += c;
  return wc;
}

std::vector<std::string> learned(const LearnedBpe& m) {
  return std::vector<std::string>(m.tokens.begin() + 256, m.tokens.end());
}

// ---- merges checked by hand

TEST(BpeTrain, HuggingFaceCourseExample) {
  // Pair counts: ug 20, pu 17, un 16, hu 15, gs 5, bu 4 -> "ug"; then un 16, hug 15 -> "un";
  // then h+ug 15 -> "hug"; then p+un 12 -> "pun".
  const auto wc = words_of({{"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}});
  const LearnedBpe m = train_bpe(wc, {.vocab_size = 260});
  EXPECT_EQ(learned(m), (std::vector<std::string>{"ug", "un", "hug", "pun"}));
  ASSERT_EQ(m.merges.size(), 4u);
  EXPECT_EQ(m.merges[0], std::make_pair(int('u'), int('g')));
  EXPECT_EQ(m.merges[2], std::make_pair(int('h'), 256));
}

TEST(BpeTrain, TiesGoToTheSmallerLeftThenRightId) {
  const auto wc = words_of({{"cd", 1}, {"ab", 1}, {"ac", 1}});
  const LearnedBpe m = train_bpe(wc, {.vocab_size = 1000});
  EXPECT_EQ(learned(m), (std::vector<std::string>{"ab", "ac", "cd"}));
}

TEST(BpeTrain, CountsOverlappingPairsButMergesLeftToRight) {
  // "aaa" holds (a,a) twice; the merge gives "aa a", then (aa,a) makes "aaa".
  const LearnedBpe m = train_bpe(words_of({{"aaa", 1}}), {.vocab_size = 1000});
  EXPECT_EQ(learned(m), (std::vector<std::string>{"aa", "aaa"}));
  EXPECT_EQ(m.merges[1], std::make_pair(256, int('a')));
}

TEST(BpeTrain, StopsAtTheVocabSizeOrWhenNoPairIsLeft) {
  const auto wc = words_of({{"hello", 3}, {"help", 2}});
  EXPECT_EQ(train_bpe(wc, {.vocab_size = 258}).tokens.size(), 258u);
  EXPECT_EQ(train_bpe(wc, {.vocab_size = 256}).tokens.size(), 256u);
  // Whole words at most: h-e-l-l-o takes 4 merges, h-e-l-p one more.
  EXPECT_EQ(train_bpe(wc, {.vocab_size = 100000}).tokens.size(), 256u + 5u);
}

TEST(BpeTrain, CountWordsUsesGpt2Pieces) {
  WordCounts wc;
  count_words("Hello world  again, world's 2026\n", wc);
  EXPECT_EQ(wc.bytes, 33);
  EXPECT_EQ(wc.count.at(" world"), 2);
  EXPECT_EQ(wc.count.at(" "), 1);  // \s+(?!\S) leaves the last space for " again"
  EXPECT_EQ(wc.count.at(" again"), 1);
  EXPECT_EQ(wc.count.at("'s"), 1);
  EXPECT_EQ(wc.count.at(" 2026"), 1);
  EXPECT_EQ(wc.count.at("\n"), 1);
}

// ---- fast == naive, merge for merge

void expect_twins(const WordCounts& wc, int vocab, const std::string& what) {
  const LearnedBpe fast = train_bpe(wc, {.vocab_size = vocab});
  const LearnedBpe naive = train_bpe_naive(wc, vocab);
  ASSERT_EQ(fast.merges, naive.merges) << what;
  ASSERT_EQ(fast.tokens, naive.tokens) << what;
  // bpe_train.h argues that a merge never re-spells a token; the naive twin does not assume it.
  ASSERT_EQ(std::set<std::string>(naive.tokens.begin(), naive.tokens.end()).size(), naive.tokens.size()) << what;
}

TEST(BpeTrain, FastEqualsNaiveOnEveryPairOfShortWords) {
  // Every word over {a, b} of length 1-5 (62 words), every pair of them, three count ratios,
  // trained until no pair is left.
  std::vector<std::string> all;
  for (int len = 1; len <= 5; ++len)
    for (int bits = 0; bits < (1 << len); ++bits) {
      std::string w;
      for (int i = 0; i < len; ++i) w += (bits >> i) & 1 ? 'b' : 'a';
      all.push_back(w);
    }
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = i + 1; j < all.size(); ++j)
      for (auto [ci, cj] : {std::pair{1, 1}, {1, 2}, {3, 1}}) {
        WordCounts wc;
        wc.count[all[i]] = ci;
        wc.count[all[j]] = cj;
        expect_twins(wc, 100000, all[i] + " x" + std::to_string(ci) + ", " + all[j] + " x" + std::to_string(cj));
      }
}

TEST(BpeTrain, FastEqualsNaiveOnRandomCorpora) {
  Rng r(15);
  for (int t = 0; t < 400; ++t) {
    WordCounts wc;
    const int n_words = 1 + int(r.next() % 12), alphabet = 2 + int(r.next() % 3);
    for (int k = 0; k < n_words; ++k) {
      std::string w;
      const int len = 1 + int(r.next() % 12);
      for (int i = 0; i < len; ++i) w += char('a' + r.next() % alphabet);
      wc.count[w] += 1 + int64_t(r.next() % 6);
    }
    // Unlimited, and cut part-way to hold the stopping rule too.
    expect_twins(wc, 100000, "random corpus " + std::to_string(t));
    expect_twins(wc, 256 + int(r.next() % 8), "random corpus (cut) " + std::to_string(t));
  }
}

TEST(BpeTrain, FastEqualsNaiveOnText) {
  WordCounts wc;
  count_words(
      "In the beginning God created the heaven and the earth. And the earth was without form, and "
      "void; and darkness was upon the face of the deep. Ünïcödé, 中文字符, 🙂 and 12345 spaces   \n\n",
      wc);
  for (int v : {256, 300, 100000}) expect_twins(wc, v, "text, vocab " + std::to_string(v));
}

// ---- the written files

std::string fresh_dir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/bpe_train_" + name;
  fs::remove_all(dir);
  return dir;
}

TEST(BpeSave, TformerLoadsWhatItWrites) {
  const std::string text = "the cat sat on the mat; the cat ate the rat. 1234 1234\n";
  WordCounts wc;
  count_words(text, wc);
  const LearnedBpe m = train_bpe(wc, {.vocab_size = 280});
  const std::string dir = fresh_dir("load");
  save_bpe(m, dir);
  const auto tok = load_bpe_tokenizer(dir);
  EXPECT_EQ(tok->vocab_size(), int(m.tokens.size()));
  for (int id = 0; id < tok->vocab_size(); ++id) EXPECT_EQ(tok->token_bytes(id), m.tokens[id]);
  const auto ids = tok->encode(text);
  EXPECT_EQ(tok->decode(ids), text);
  // " the" was learned whole; the encoder must find it.
  const auto the = std::find(m.tokens.begin(), m.tokens.end(), " the");
  ASSERT_NE(the, m.tokens.end());
  EXPECT_EQ(tok->encode(" the"), std::vector<int>{int(the - m.tokens.begin())});
  // Bytes never seen in training still encode, one byte token each.
  EXPECT_EQ(tok->encode("\xff\x01"), (std::vector<int>{0xFF, 0x01}));
}

TEST(BpeSave, TokenizerJsonMatchesTheGpt2Files) {
  WordCounts wc;
  count_words("aaa bbb aaa ccc\n", wc);
  const LearnedBpe m = train_bpe(wc, {.vocab_size = 1000});
  const std::string dir = fresh_dir("json");
  save_bpe(m, dir);
  const auto tj = nlohmann::json::parse(read_file(dir + "/tokenizer.json"));
  const auto vocab = nlohmann::json::parse(read_file(dir + "/vocab.json"));
  EXPECT_EQ(tj["model"]["type"], "BPE");
  EXPECT_EQ(tj["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(tj["pre_tokenizer"]["add_prefix_space"], false);
  EXPECT_EQ(tj["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(tj["model"]["vocab"], vocab);
  EXPECT_EQ(vocab["\xc4\xa0"], 32);  // "Ġ" is the space byte
  EXPECT_EQ(vocab["a"], 97);
  std::string merges = "#version: 0.2\n";
  for (const auto& line : tj["model"]["merges"]) merges += line.get<std::string>() + "\n";
  EXPECT_EQ(merges, read_file(dir + "/merges.txt"));
  EXPECT_EQ(tj["model"]["merges"][0], "a a");  // (a,a) occurs 2 x 2 times
}

TEST(BpeSave, RefusesAFolderThatHoldsSomethingAndLeavesNoTempBehind) {
  const std::string dir = fresh_dir("busy");
  fs::create_directories(dir);
  write_file_atomic(dir + "/keep.txt", "mine");
  const LearnedBpe m = train_bpe(words_of({{"ab", 1}}), {.vocab_size = 300});
  EXPECT_THROW(save_bpe(m, dir), Error);
  EXPECT_EQ(read_file(dir + "/keep.txt"), "mine");
  for (const auto& e : fs::directory_iterator(fs::path(dir).parent_path()))
    EXPECT_EQ(e.path().filename().string().find("bpe_train_busy.tmp"), std::string::npos);
  // An empty folder is taken.
  const std::string empty = fresh_dir("empty");
  fs::create_directories(empty);
  save_bpe(m, empty + "/");
  EXPECT_TRUE(fs::exists(empty + "/merges.txt"));
}

}  // namespace
}  // namespace tf
