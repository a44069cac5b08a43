// The explainer's own checks: the h_t check's tolerance, the visible tokens, the run history,
// and explain_model on random models whose hidden states are large (where an absolute bound
// sized for the toy called float rounding a disagreement) and on a deliberately broken cache.
#include "explain/explain.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "explain/h_check.h"
#include "explain/run_history.h"
#include "explain/token_display.h"
#include "model/params.h"

namespace tf {
namespace {

// --- the h_t check

TEST(HiddenCheck, RoundingOnLargeValuesIsEqualAndRealDifferencesAreNot) {
  const int C = 8;
  std::vector<float> ref(2 * C);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = 50.0f * std::sin(float(i) + 0.5f);  // values up to ~50
  std::vector<float> inf = ref;
  inf[3] = std::nextafter(std::nextafter(ref[3], 1e9f), 1e9f);  // two ulps of ~40: ~7.6e-6
  const HiddenCheck ok = compare_hidden(inf, ref, C);
  EXPECT_GT(ok.max_abs_diff, 1e-6);  // the old absolute bound called this DIFFERENT
  EXPECT_TRUE(ok.ok) << describe(ok);
  EXPECT_NEAR(ok.rel_diff, ok.max_abs_diff / ok.scale, 1e-15);
  EXPECT_EQ(ok.per_position.size(), 2u);
  EXPECT_EQ(ok.per_position[1], 0.0);

  inf[C + 2] += 0.01f;  // 2e-4 of the scale: a real disagreement
  const HiddenCheck bad = compare_hidden(inf, ref, C);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(describe(bad).rfind("DIFFERENT: max |diff| 1.0e-02 on values up to", 0), 0u) << describe(bad);

  inf = ref;
  inf[0] = NAN;
  EXPECT_FALSE(compare_hidden(inf, ref, C).ok);
}

TEST(HiddenCheck, SmallValuesKeepAnAbsoluteFloorAndTheWordsNameTheBound) {
  // Values below 1: the bound is 1e-5 absolute, not 1e-5 of a tiny scale.
  const std::vector<float> ref = {0.001f, -0.002f}, inf = {0.001f + 5e-6f, -0.002f};
  const HiddenCheck c = compare_hidden(inf, ref, 2);
  EXPECT_TRUE(c.ok);
  EXPECT_DOUBLE_EQ(c.abs_bound, 1e-5);
  HiddenCheck shown;
  shown.max_abs_diff = 7.63e-6, shown.scale = 11.2, shown.rel_diff = 7.63e-6 / 11.2, shown.ok = true;
  EXPECT_EQ(describe(shown),
            "EQUAL to float32 rounding: max |diff| 7.6e-06 on values up to 11.2 (6.8e-07 relative, bound 1e-05)");
  const auto j = to_json(c);
  EXPECT_EQ(j["rel_tolerance"], 1e-5);
  EXPECT_TRUE(j["ok"].get<bool>());
}

// --- visible tokens

TEST(TokenDisplay, EveryByteIsVisible) {
  EXPECT_EQ(token_display(" And"), "␣And");
  EXPECT_EQ(token_display("\n"), "↵");
  EXPECT_EQ(token_display("\t\r"), "⇥⏎");
  EXPECT_EQ(token_display(std::string("\x01\x7f", 2)), "<0x01><0x7F>");
  EXPECT_EQ(token_display(std::string(1, '\0')), "<0x00>");
  EXPECT_EQ(token_display("\xE2\x80"), "<0xE2><0x80>");  // the first two bytes of "’"
  EXPECT_EQ(token_display("\x99"), "<0x99>");            // a lone continuation byte
  EXPECT_EQ(token_display("é’"), "é’");
  EXPECT_EQ(token_display(""), "∅");
  EXPECT_EQ(token_raw_text(" \n"), "\" \\n\" · 20 0a");
  EXPECT_EQ(token_raw_text("\xE2\x80"), "\"\\xe2\\x80\" · e2 80");
  EXPECT_EQ(display_width("␣And"), 4u);
}

// --- the run's history

TEST(RunHistory, MetricsCurveAndValidationText) {
  const auto dir = std::filesystem::temp_directory_path() / ("tformer-explain-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream m(dir / "metrics.jsonl");
    for (int s = 1; s <= 10; ++s)
      m << nlohmann::json{{"step", s}, {"loss", 5.0 - 0.1 * s}}.dump() << (s == 10 ? "\n{\"step\": 1" : "\n");
  }
  const auto c = run_loss_curve(dir.string(), 4);
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["points_of"], 10);  // the torn last line is skipped
  EXPECT_EQ(c["step"], nlohmann::json({1, 4, 7, 10}));
  EXPECT_TRUE(run_loss_curve((dir / "none").string()).is_null());
  EXPECT_EQ(validation_text(dir.string()), "");  // not a run folder
  std::filesystem::remove_all(dir);

  const std::string val = "ng of the\nAnd he said unto me, Write: for these words are true\n";
  EXPECT_EQ(continuation_in(val, "And he said", 9), " unto me,");
  EXPECT_EQ(continuation_in(val, "And God said", 9), "");
  const auto s = validation_sample(val, 8, 10);
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["prompt"], "And he said");
  EXPECT_EQ(s["truth"], " unto me, ");
  // A line too short for a prompt is passed over; leading blanks are not part of the prompt.
  const auto s2 = validation_sample("ings,\nand so.\n  6 And the seven angels\nsound.\n", 8, 40);
  ASSERT_TRUE(s2.is_object());
  EXPECT_EQ(s2["prompt"], "6 And the");
  EXPECT_EQ(s2["truth"], " seven angels\nsound.\n");
  EXPECT_TRUE(validation_sample("no newline here").is_null());
}

// --- explain_model on real (random) models

// A random GPT-2 whose hidden states reach tens: the init's 0.02-std weights scaled up, the
// embeddings most (the residual stream carries them to h_t).
std::unique_ptr<Model> large_valued_model(float embed_scale, float weight_scale) {
  Config c{.vocab_size = 256, .n_positions = 64, .n_embd = 64, .n_layer = 2, .n_head = 4, .tokenizer = "byte"};
  auto g = std::make_unique<Model>(c);
  init_params(c, g->mutable_params().data(), 11);
  for (float& w : g->mutable_params()) w *= weight_scale;
  const ModelViews<float> p = model_views(c, g->mutable_params().data());  // writable: scale the embeddings
  for (size_t i = 0; i < size_t(c.vocab_size) * c.n_embd; ++i) p.wte[i] *= embed_scale;
  for (size_t i = 0; i < size_t(c.n_positions) * c.n_embd; ++i) p.wpe[i] *= embed_scale;
  return g;
}

TEST(ExplainModel, LargeHiddenValuesPassTheCheck) {
  const auto tok = make_byte_tokenizer();
  for (float s : {30.0f, 200.0f, 270.0f}) {
    auto g = large_valued_model(s, 3.0f);
    const auto j = explain_model(*g, *tok, "And God said", 6, GenerateOptions{}, {.truth = " unto"});
    const auto& ck = j["check"];
    const double scale = ck["scale"];
    std::printf("embedding scale %g: %s\n", s, ck["summary"].get<std::string>().c_str());
    EXPECT_GE(scale, 10.0) << "embedding scale " << s;
    EXPECT_LE(scale, 100.0) << "embedding scale " << s;
    EXPECT_TRUE(ck["ok"].get<bool>()) << ck["summary"];
    EXPECT_EQ(ck["summary"].get<std::string>().rfind("EQUAL to float32 rounding", 0), 0u);
    // Visible tokens and the free-running comparison against the given truth.
    EXPECT_EQ(j["training"]["tokens"][3], "␣");
    EXPECT_EQ(j["token_text"]["␣"], "\" \" · 20");
    EXPECT_EQ(j["teacher_forced_vs_free_running"].size(), 6u);
    EXPECT_EQ(j["teacher_forced_vs_free_running"][0]["ground_truth"], "␣");
    EXPECT_EQ(j["teacher_forced_vs_free_running"][5]["ground_truth"], "");  // the truth has 5 tokens
  }
}

TEST(ExplainModel, ACorruptedCacheIsDifferent) {
  const auto tok = make_byte_tokenizer();
  auto g = large_valued_model(200.0f, 3.0f);
  const int C = g->config().n_embd;
  // After the prefill, the cached K and V of position 1 are overwritten with position 2's in
  // every layer: the off-by-one row a broken cache would hold. (Swapping two rows would not do:
  // attention is blind to the order of its keys.) Every later cached step reads the row; the
  // parallel reference does not.
  auto corrupt = [C, L = g->config().n_layer](KvCache& cache, const KvSeq& seq, int step) {
    if (step != 1) return;
    for (int l = 0; l < L; ++l) {
      std::copy_n(cache.k(l, seq.rows[1]), C, cache.k(l, seq.rows[0]));
      std::copy_n(cache.v(l, seq.rows[1]), C, cache.v(l, seq.rows[0]));
    }
  };
  const auto j = explain_model(*g, *tok, "And God said", 4, GenerateOptions{}, {.after_step = corrupt});
  const auto& ck = j["check"];
  std::printf("corrupted cache: %s\n", ck["summary"].get<std::string>().c_str());
  EXPECT_FALSE(ck["ok"].get<bool>());
  EXPECT_EQ(ck["summary"].get<std::string>().rfind("DIFFERENT", 0), 0u);
  // The prompt's positions came from the prefill, before the corruption: still equal.
  EXPECT_LE(ck["per_position"][0]["max_abs_diff"].get<double>(), ck["tolerance"].get<double>());
  EXPECT_GT(ck["per_position"][12]["max_abs_diff"].get<double>(), ck["tolerance"].get<double>());
}

}  // namespace
}  // namespace tf
