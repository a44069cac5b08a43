// Pieces of the tokenizer.json tokenizers on tiny hand-made vocabularies whose right answers
// are worked out by hand; tests/hf_tokenizer_parity.py holds the real files to transformers.js.
#include "tokenizer/hf_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/hf_bpe.h"
#include "tokenizer/spm_test_tokenizer.h"
#include "tokenizer/unicode_norm.h"

namespace tf {
namespace {

using nlohmann::json;

TEST(HfBpe, MergesAsStringsAndAsPairsAgree) {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}};
  const BpeModel strings({{"type", "BPE"}, {"vocab", vocab}, {"merges", {"b c", "a bc"}}}, "t");
  const BpeModel pairs(
      {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({json::array({"b", "c"}), json::array({"a", "bc"})})}},
      "t");
  for (const BpeModel* m : {&strings, &pairs}) {
    std::vector<int> ids;
    m->encode("abcab", ids);  // b c first (rank 0), then a bc; "ab" has no merge
    EXPECT_EQ(ids, (std::vector<int>{5, 0, 1}));
  }
}

TEST(HfBpe, LowestRankThenLeftmost) {
  // "aaa" with a+a: the left pair merges first, as huggingface/tokenizers does.
  const BpeModel m({{"type", "BPE"}, {"vocab", {{"a", 0}, {"aa", 1}}}, {"merges", {"a a"}}}, "t");
  std::vector<int> ids;
  m.encode("aaa", ids);
  EXPECT_EQ(ids, (std::vector<int>{1, 0}));
}

TEST(HfBpe, IgnoreMergesTakesAWholeWordToken) {
  // Without ignore_merges "abc" is a + bc (no merge a b); with it, the token "abc" itself.
  json m = {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"bc", 3}, {"abc", 4}}}, {"merges", {"b c"}}};
  std::vector<int> ids;
  BpeModel(m, "t").encode("abc", ids);
  EXPECT_EQ(ids, (std::vector<int>{0, 3}));
  m["ignore_merges"] = true;
  ids.clear();
  BpeModel(m, "t").encode("abc", ids);
  EXPECT_EQ(ids, (std::vector<int>{4}));
}

TEST(HfBpe, ByteFallbackAndFusedUnknowns) {
  json vocab = {{"<unk>", 0}, {"a", 1}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 2 + b;
  }
  const BpeModel fb(
      {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}, {"unk_token", "<unk>"}, {"byte_fallback", true}},
      "t");
  std::vector<int> ids;
  fb.encode(
      "a\xC3\xA9"
      "a\xFF",
      ids);  // é is C3 A9; a lone FF is invalid UTF-8
  EXPECT_EQ(ids, (std::vector<int>{1, 2 + 0xC3, 2 + 0xA9, 1, 2 + 0xFF}));

  const BpeModel fuse({{"type", "BPE"},
                       {"vocab", {{"<unk>", 0}, {"a", 1}}},
                       {"merges", json::array()},
                       {"unk_token", "<unk>"},
                       {"fuse_unk", true}},
                      "t");
  ids.clear();
  fuse.encode("xyzaxa", ids);
  EXPECT_EQ(ids, (std::vector<int>{0, 1, 0, 1}));
}

TEST(HfBpe, LongWordIsNotQuadratic) {
  // Words of 2^12 and 2^18 'a's with merges a+a, aa+aa, ...: the heap keeps this O(n log n), so
  // 64 times the input costs ~100-200 times the time; a quadratic merge loop 4096 times. A ratio
  // of the best of three runs each, not a time: the machine's speed (a loaded CI, ASan) cancels.
  json vocab = {{"a", 0}}, merges = json::array();
  std::string t = "a";
  for (int k = 1; k <= 10; ++k) {
    merges.push_back({t, t});
    t += t;
    vocab[t] = k;
  }
  const BpeModel m({{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}, "t");
  const auto best_of_3 = [&](int log2_n) {
    const std::string word(size_t(1) << log2_n, 'a');
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<int> ids;
      const auto t0 = std::chrono::steady_clock::now();
      m.encode(word, ids);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      EXPECT_EQ(ids, std::vector<int>(size_t(1) << (log2_n - 10), 10));  // tokens of 1024 a's
    }
    return best;
  };
  const double small = best_of_3(12), large = best_of_3(18);
  EXPECT_LT(large / small, 1000.0) << small << " s for 2^12, " << large << " s for 2^18";
}

TEST(AddedTokens, LongestMatchAndStrip) {
  AddedTokens a({{.id = 7, .content = "<s>"},
                 {.id = 8, .content = "<s>x", .rstrip = true},
                 {.id = 9, .content = "</s>", .lstrip = true}});
  const auto p = a.split("hi <s>x  yo  </s><s>");
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].text, "hi ");
  EXPECT_EQ(a.tokens()[p[1].token].id, 8);  // the longer token wins
  EXPECT_EQ(p[2].text, "yo");               // rstrip of <s>x and lstrip of </s>
  EXPECT_EQ(a.tokens()[p[3].token].id, 9);
  EXPECT_EQ(a.tokens()[p[4].token].id, 7);
}

TEST(UnicodeNorm, NfcComposesAndKeepsInvalidBytes) {
  EXPECT_EQ(unicode_normalize("e\xCC\x81", UnicodeForm::kNfc), "\xC3\xA9");  // e + U+0301 -> é
  EXPECT_EQ(unicode_normalize("\xC3\xA9", UnicodeForm::kNfd), "e\xCC\x81");
  EXPECT_EQ(unicode_normalize("\xEF\xAC\x81", UnicodeForm::kNfkc), "fi");  // ﬁ ligature
  // Hangul jamo compose into a syllable: U+1100 U+1161 -> U+AC00.
  EXPECT_EQ(unicode_normalize("\xE1\x84\x80\xE1\x85\xA1", UnicodeForm::kNfc), "\xEA\xB0\x80");
  EXPECT_EQ(unicode_normalize("a\xFF"
                              "e\xCC\x81\xC3",
                              UnicodeForm::kNfc),
            "a\xFF\xC3\xA9\xC3");
}

TEST(HfTokenizer, SentencepieceStyleEncodesAndDecodes) {
  auto tok = load_hf_tokenizer(write_spm_tokenizer());
  EXPECT_EQ(tok->kind(), TokenizerKind::kHfBpe);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  const int sp = 259, h = 260, i = 261, hi = 263;
  // "hi hi" -> "▁hi▁hi"; "hi!" -> ▁hi + byte fallback for '!' (0x21).
  EXPECT_EQ(tok->encode("hi hi"), (std::vector<int>{hi, hi}));
  EXPECT_EQ(tok->encode("hi!"), (std::vector<int>{hi, 3 + 0x21}));
  EXPECT_EQ(tok->encode_with_specials("hi"), (std::vector<int>{1, hi}));
  // An added token splits the text; each stretch gets its own "▁" prefix (as in HF).
  EXPECT_EQ(tok->encode("ih</s>h"), (std::vector<int>{sp, i, h, 2, 262}));
  EXPECT_EQ(tok->decode(std::vector<int>{hi, hi, 3 + 0x21}), "hi hi!");  // leading space stripped
  EXPECT_EQ(tok->decode(std::vector<int>{1, hi}), "<s> hi");
  EXPECT_TRUE(tok->is_special(2));
  EXPECT_FALSE(tok->is_special(hi));
  const std::string text = "h\xC3\xA9 \xF0\x9F\x99\x82 hi";  // bytes for é and 🙂
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
}

TEST(HfTokenizer, UnsupportedModelIsOneClearError) {
  const std::string dir = write_spm_tokenizer("WordPiece");
  try {
    load_hf_tokenizer(dir);
    FAIL() << "WordPiece was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.type"), std::string::npos) << msg;
    EXPECT_NE(msg.find("WordPiece"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace tf
