// GPT-2 hyper-parameters, read from and written to Hugging Face's config.json keys.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace tf {

struct Config {
  int vocab_size = 256;   // V
  int n_positions = 256;  // maximum T
  int n_embd = 128;       // C
  int n_layer = 4;        // L
  int n_head = 4;         // NH
  double layer_norm_epsilon = 1e-5;
  bool tie_word_embeddings = true;  // LM head = token embedding (GPT-2); false adds lm_head
  // Recorded in config.json as "tformer_tokenizer": "byte" for a byte-level model; a GPT-2
  // BPE model carries vocab.json + merges.txt instead; "" means no tokenizer.
  std::string tokenizer;

  int head_size() const { return n_embd / n_head; }  // HS
};

// FLOPs of processing one position that attends to t positions: 2 per multiply-add of every
// weight matrix (qkv 3C², projection C², MLP 8C² per layer, the LM head V·C) plus QKᵀ and PV,
// 2·t·C each per layer.
double flops_per_position(const Config& c, long t);

// Validates every field; label names the file in messages.
Config config_from_json(const nlohmann::json& j, const std::string& label);
nlohmann::json config_to_json(const Config& c);
// Presets: tiny, small, gpt2 (the 124M shapes). Throws UsageError for an unknown name.
Config preset_config(const std::string& name);

}  // namespace tf
