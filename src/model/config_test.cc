// config.json for the Llama family: the keys transformers writes, the rope scalings in their
// three spellings, and a clear error for what tformer cannot honour.
#include "model/config.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/llama_block.h"

namespace tf {
namespace {

nlohmann::json smollm2() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
    "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-05, "rope_theta": 100000, "rope_scaling": null, "tie_word_embeddings": true,
    "attention_bias": false, "mlp_bias": false, "bos_token_id": 0, "eos_token_id": 0,
    "pretraining_tp": 1, "torch_dtype": "bfloat16", "use_cache": true})");
}

std::string error_of(const nlohmann::json& j) {
  try {
    config_from_json(j, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LlamaConfig, ReadsSmolLm2AndEqualsThePreset) {
  const Config c = config_from_json(smollm2(), "config.json");
  const Config p = preset_config("smollm2-135m");
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.head_size(), 64);
  EXPECT_EQ(c.kv_heads(), 3);
  EXPECT_EQ(c.qkv_dim(), 576 + 2 * 192);
  EXPECT_EQ(c.rope.theta, 100000.0);
  EXPECT_EQ(c.rope.scaling, RopeScaling::kNone);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{0});
  EXPECT_EQ(config_to_json(c), config_to_json(p));
  // Round trip: what tformer writes reads back to the same config.
  EXPECT_EQ(config_to_json(config_from_json(config_to_json(c), "x")), config_to_json(c));
}

TEST(LlamaConfig, DefaultsWhereKeysAreAbsent) {
  auto j = smollm2();
  for (const char* k : {"num_key_value_heads", "rms_norm_eps", "rope_theta", "tie_word_embeddings"}) j.erase(k);
  const Config c = config_from_json(j, "config.json");
  EXPECT_EQ(c.kv_heads(), 9);
  EXPECT_EQ(c.layer_norm_epsilon, 1e-6);
  EXPECT_EQ(c.rope.theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);  // LlamaConfig's default
}

TEST(LlamaConfig, Qwen2HasQkvBiasesAndExplicitHeadDim) {
  auto j = smollm2();
  j["model_type"] = "qwen2";
  j["head_dim"] = 32;
  j["use_sliding_window"] = false;
  j["sliding_window"] = 4096;
  j["eos_token_id"] = {1, 2};
  const Config c = config_from_json(j, "config.json");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.head_size(), 32);
  EXPECT_EQ(c.q_dim(), 9 * 32);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{1, 2}));
}

TEST(LlamaConfig, RopeScalingInEverySpelling) {
  const nlohmann::json llama3 = {
      {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  for (const char* type_key : {"rope_type", "type"}) {
    auto j = smollm2();
    j["rope_scaling"] = llama3;
    j["rope_scaling"][type_key] = "llama3";
    const Config c = config_from_json(j, "config.json");
    EXPECT_EQ(c.rope.scaling, RopeScaling::kLlama3);
    EXPECT_EQ(c.rope.original_max_positions, 8192);
  }
  auto j = smollm2();  // transformers 5: rope_parameters, theta inside
  j.erase("rope_theta");
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 5e5}};
  const Config c = config_from_json(j, "config.json");
  EXPECT_EQ(c.rope.scaling, RopeScaling::kLinear);
  EXPECT_EQ(c.rope.factor, 2.0);
  EXPECT_EQ(c.rope.theta, 5e5);
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e4}};
  EXPECT_EQ(config_from_json(j, "config.json").rope.scaling, RopeScaling::kNone);
}

// Llama 3.1's frequencies (head_dim 128, theta 500000, factor 8, 1, 4, 8192): the highest
// frequencies are kept, the lowest divided by 8, and the ones between interpolated.
TEST(LlamaConfig, Llama3FrequenciesFollowTransformers) {
  const Rope r{.theta = 500000.0,
               .scaling = RopeScaling::kLlama3,
               .factor = 8.0,
               .low_freq_factor = 1.0,
               .high_freq_factor = 4.0,
               .original_max_positions = 8192};
  const auto f = rope_inv_freq(r, 128);
  const auto base = rope_inv_freq(Rope{.theta = 500000.0}, 128);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(f[0], base[0]);
  EXPECT_DOUBLE_EQ(f[63], base[63] / 8);
  int between = 0;
  for (int i = 0; i < 64; ++i) between += f[i] < base[i] && f[i] > base[i] / 8;
  EXPECT_GT(between, 0);
}

// A GGUF file's per-frequency divisors (llama.cpp's rope_freqs): each frequency divided by its
// own, and the config round-trips through config.json under tformer's rope_type.
TEST(LlamaConfig, FreqFactorsDivideEachFrequencyAndRoundTrip) {
  nlohmann::json j = {{"model_type", "llama"},        {"vocab_size", 32},       {"hidden_size", 16},
                      {"intermediate_size", 32},      {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                      {"max_position_embeddings", 8}, {"rms_norm_eps", 1e-5}};
  j["rope_scaling"] = {{"rope_type", "tformer_freq_factors"}, {"freq_factors", {1.0, 1.5, 4.0, 8.0}}};
  const Config c = config_from_json(j, "config.json");
  ASSERT_EQ(c.rope.scaling, RopeScaling::kFreqFactors);
  const auto f = rope_inv_freq(c.rope, 8), base = rope_inv_freq(Rope{}, 8);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(f[i], base[i] / c.rope.freq_factors[i]);
  EXPECT_EQ(config_from_json(config_to_json(c), "again").rope.freq_factors, c.rope.freq_factors);
  j["rope_scaling"]["freq_factors"] = {1.0, 2.0};  // head_dim 8 has 4 frequencies
  EXPECT_THROW(config_from_json(j, "config.json"), Error);
  j["rope_scaling"]["freq_factors"] = {1.0, 2.0, 0.0, 1.0};
  EXPECT_THROW(config_from_json(j, "config.json"), Error);
}

TEST(LlamaConfig, RefusesWhatItCannotHonourNamingTheKey) {
  auto with = [](const char* key, nlohmann::json v) {
    auto j = smollm2();
    j[key] = v;
    return error_of(j);
  };
  EXPECT_NE(with("model_type", "gemma").find("model_type \"gemma\""), std::string::npos);
  EXPECT_NE(with("hidden_act", "gelu").find("hidden_act \"gelu\""), std::string::npos);
  EXPECT_NE(with("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}).find("rope_type \"yarn\""),
            std::string::npos);
  EXPECT_NE(with("rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}).find("\"dynamic\""), std::string::npos);
  EXPECT_NE(with("num_key_value_heads", 2).find("num_key_value_heads 2"), std::string::npos);
  auto m = smollm2();
  m["model_type"] = "mistral";
  m["sliding_window"] = 4096;
  EXPECT_NE(error_of(m).find("sliding_window 4096"), std::string::npos);
  m["sliding_window"] = nullptr;
  EXPECT_EQ(error_of(m), "");
  auto q = smollm2();
  q["model_type"] = "qwen2";
  q["use_sliding_window"] = true;
  q["sliding_window"] = 32;
  EXPECT_NE(error_of(q).find("sliding_window 32"), std::string::npos);
  auto n = smollm2();
  n.erase("intermediate_size");
  EXPECT_NE(error_of(n).find("intermediate_size"), std::string::npos);
}

TEST(Gpt2Config, RoundTripsUnchanged) {
  const Config c = preset_config("gpt2");
  EXPECT_EQ(c.arch, Arch::kGpt2);
  const auto j = config_to_json(c);
  EXPECT_EQ(j["model_type"], "gpt2");
  EXPECT_FALSE(j.contains("num_key_value_heads"));
  EXPECT_EQ(config_to_json(config_from_json(j, "x")), j);
}

}  // namespace
}  // namespace tf
