// Model hyper-parameters, read from and written to Hugging Face's config.json keys: GPT-2
// (model_type gpt2) and the Llama family (llama, and qwen2 and mistral, which compute the same
// function; see config.cc for the keys and what is refused).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tf {

// Which block the model runs (model.h dispatches on it).
enum class Arch {
  kGpt2,   // learned positions, LayerNorm, fused qkv (Conv1D), GELU MLP
  kLlama,  // rotary positions, RMSNorm, grouped-query attention, SwiGLU MLP
};

// How rotary frequencies are scaled (HF's rope_type): none, linear (positions divided by
// factor), llama3 (long wavelengths divided by factor, short ones kept, a smooth ramp between),
// or per-frequency divisors as they are (llama.cpp's rope_freqs tensor: how its converter writes
// llama3 scaling, without the four numbers that made them).
enum class RopeScaling { kNone, kLinear, kLlama3, kFreqFactors };

struct Rope {
  double theta = 10000.0;  // rope_theta: inv_freq[i] = theta^(-2i/HS)
  RopeScaling scaling = RopeScaling::kNone;
  double factor = 1.0;               // linear and llama3
  double low_freq_factor = 1.0;      // llama3
  double high_freq_factor = 4.0;     // llama3
  int original_max_positions = 0;    // llama3: original_max_position_embeddings
  std::vector<double> freq_factors;  // kFreqFactors: inv_freq[i] /= freq_factors[i], HS/2 values
};

struct Config {
  int vocab_size = 256;              // V
  int n_positions = 256;             // maximum T (Llama: max_position_embeddings)
  int n_embd = 128;                  // C (Llama: hidden_size)
  int n_layer = 4;                   // L
  int n_head = 4;                    // NH
  double layer_norm_epsilon = 1e-5;  // the norm's eps (Llama: rms_norm_eps)
  bool tie_word_embeddings = true;   // LM head = token embedding (GPT-2); false adds lm_head
  // Recorded in config.json as "tformer_tokenizer": "byte" for a byte-level model; a GPT-2
  // BPE model carries vocab.json + merges.txt instead; "" means no tokenizer.
  std::string tokenizer;

  // ---- the Llama family (arch kLlama); GPT-2 leaves these at their defaults
  Arch arch = Arch::kGpt2;
  std::string model_type = "gpt2";  // llama, qwen2 or mistral: written back as read
  int n_kv_head = 0;                // NKV (num_key_value_heads), divides NH; 0 = NH
  int head_dim = 0;                 // HS; 0 = C / NH
  int intermediate_size = 0;        // I, the SwiGLU width
  Rope rope;
  bool qkv_bias = false;  // q/k/v_proj biases (attention_bias; qwen2 always)
  bool o_bias = false;    // o_proj bias (attention_bias)
  bool mlp_bias = false;  // gate/up/down_proj biases
  int bos_token_id = -1;  // -1: none given
  std::vector<int> eos_token_ids;

  int head_size() const { return head_dim > 0 ? head_dim : n_embd / n_head; }  // HS
  int kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }          // NKV
  int q_dim() const { return n_head * head_size(); }                           // NH·HS
  int kv_dim() const { return kv_heads() * head_size(); }                      // NKV·HS
  int qkv_dim() const { return q_dim() + 2 * kv_dim(); }                       // a row of [q | k | v]
  bool llama() const { return arch == Arch::kLlama; }
};

// FLOPs of processing one position that attends to t positions: 2 per multiply-add of every
// weight matrix (GPT-2: qkv 3C², projection C², MLP 8C² per layer; Llama: q/k/v C·(NH+2NKV)·HS,
// o NH·HS·C, gate/up/down 3·C·I; the LM head V·C) plus QKᵀ and PV, 2·t·NH·HS each per layer.
double flops_per_position(const Config& c, long t);

// Validates every field; label names the file in messages.
Config config_from_json(const nlohmann::json& j, const std::string& label);
nlohmann::json config_to_json(const Config& c);
// Presets: tiny, small, gpt2 (the 124M shapes), smollm2-135m (Llama). Throws UsageError for an
// unknown name.
Config preset_config(const std::string& name);

}  // namespace tf
