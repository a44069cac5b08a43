#include "model/config.h"

#include <cmath>

#include "core/error.h"

namespace tf {

namespace {

int get_int(const nlohmann::json& j, const char* key, const std::string& label, bool required, int def) {
  // null counts as absent (transformers writes e.g. "head_dim": null).
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw Error(label + ": missing key " + key);
    return def;
  }
  const auto& v = j[key];
  if (!v.is_number_integer() || v.get<long>() <= 0 || v.get<long>() > (1L << 30))
    throw Error(label + ": " + key + " must be a positive integer, got " + v.dump());
  return v.get<int>();
}

double get_number(const nlohmann::json& j, const char* key, const std::string& label, double def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number()) throw Error(label + ": " + key + " must be a number, got " + j[key].dump());
  return j[key].get<double>();
}

bool get_bool(const nlohmann::json& j, const char* key, const std::string& label, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) throw Error(label + ": " + key + " must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}

// rope_scaling (transformers 4, "rope_type" or the older "type") or rope_parameters
// (transformers 5, which also carries rope_theta).
Rope rope_from_json(const nlohmann::json& j, const std::string& label) {
  Rope r;
  r.theta = get_number(j, "rope_theta", label, 10000.0);
  const char* key =
      j.contains("rope_parameters") && !j["rope_parameters"].is_null() ? "rope_parameters" : "rope_scaling";
  if (!j.contains(key) || j[key].is_null()) return r;
  const auto& s = j[key];
  if (!s.is_object()) throw Error(label + ": " + key + " must be an object or null, got " + s.dump());
  const std::string where = label + ": " + key;
  if (s.contains("rope_theta")) r.theta = get_number(s, "rope_theta", where, r.theta);
  std::string type = "default";
  for (const char* k : {"rope_type", "type"})
    if (s.contains(k)) {
      if (!s[k].is_string()) throw Error(where + "." + k + " must be a string, got " + s[k].dump());
      type = s[k].get<std::string>();
      break;
    }
  if (type == "default") return r;
  if (type == "tformer_freq_factors") {  // tformer's own: a GGUF file's rope_freqs tensor
    if (!s.contains("freq_factors") || !s["freq_factors"].is_array())
      throw Error(where + ".freq_factors must be an array of numbers");
    r.scaling = RopeScaling::kFreqFactors;
    for (const auto& f : s["freq_factors"]) {
      if (!f.is_number() || !(f.get<double>() > 0) || !std::isfinite(f.get<double>()))
        throw Error(where + ".freq_factors holds " + f.dump() + ", not a positive number");
      r.freq_factors.push_back(f.get<double>());
    }
    return r;
  }
  if (type != "linear" && type != "llama3")
    throw Error(where + ".rope_type \"" + type + "\" is not supported (tformer implements default, linear, llama3)");
  r.factor = get_number(s, "factor", where, 0.0);
  if (!(r.factor >= 1.0))
    throw Error(where + ".factor must be a number >= 1, got " + s.value("factor", nlohmann::json()).dump());
  if (get_number(s, "attention_factor", where, 1.0) != 1.0)
    throw Error(where + ".attention_factor " + s["attention_factor"].dump() + " is not supported (only 1)");
  if (type == "linear") {
    r.scaling = RopeScaling::kLinear;
    return r;
  }
  r.scaling = RopeScaling::kLlama3;
  r.low_freq_factor = get_number(s, "low_freq_factor", where, 0.0);
  r.high_freq_factor = get_number(s, "high_freq_factor", where, 0.0);
  r.original_max_positions = get_int(s, "original_max_position_embeddings", where, true, 0);
  if (!(r.low_freq_factor > 0) || !(r.high_freq_factor > r.low_freq_factor))
    throw Error(where + ": llama3 needs 0 < low_freq_factor < high_freq_factor, got " +
                std::to_string(r.low_freq_factor) + " and " + std::to_string(r.high_freq_factor));
  return r;
}

// The Llama family: llama (SmolLM2, TinyLlama, Llama 2/3), qwen2, mistral without a sliding
// window. Keys as transformers' LlamaConfig / Qwen2Config / MistralConfig write them.
Config llama_from_json(const nlohmann::json& j, const std::string& label, const std::string& type) {
  Config c;
  c.arch = Arch::kLlama;
  c.model_type = type;
  c.vocab_size = get_int(j, "vocab_size", label, true, 0);
  c.n_embd = get_int(j, "hidden_size", label, true, 0);
  c.intermediate_size = get_int(j, "intermediate_size", label, true, 0);
  c.n_layer = get_int(j, "num_hidden_layers", label, true, 0);
  c.n_head = get_int(j, "num_attention_heads", label, true, 0);
  c.n_positions = get_int(j, "max_position_embeddings", label, true, 0);
  c.n_kv_head = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                    ? get_int(j, "num_key_value_heads", label, true, 0)
                    : c.n_head;
  if (c.n_head % c.n_kv_head != 0)
    throw Error(label + ": num_key_value_heads " + std::to_string(c.n_kv_head) +
                " does not divide num_attention_heads " + std::to_string(c.n_head));
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = get_int(j, "head_dim", label, true, 0);
  } else {
    if (c.n_embd % c.n_head != 0)
      throw Error(label + ": hidden_size " + std::to_string(c.n_embd) + " is not divisible by num_attention_heads " +
                  std::to_string(c.n_head) + " (and no head_dim is given)");
    c.head_dim = c.n_embd / c.n_head;
  }
  if (c.head_dim % 2 != 0) throw Error(label + ": head_dim " + std::to_string(c.head_dim) + " must be even (rotary)");
  c.layer_norm_epsilon = get_number(j, "rms_norm_eps", label, 1e-6);
  if (!(c.layer_norm_epsilon > 0)) throw Error(label + ": rms_norm_eps must be a positive number");
  c.rope = rope_from_json(j, label);
  if (c.rope.scaling == RopeScaling::kFreqFactors && c.rope.freq_factors.size() != size_t(c.head_dim / 2))
    throw Error(label + ": rope_scaling.freq_factors has " + std::to_string(c.rope.freq_factors.size()) +
                " values, head_dim " + std::to_string(c.head_dim) + " needs " + std::to_string(c.head_dim / 2));
  if (!(c.rope.theta > 0)) throw Error(label + ": rope_theta must be a positive number");
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", label, false);  // LlamaConfig's default
  const bool attention_bias = get_bool(j, "attention_bias", label, false);
  c.qkv_bias = type == "qwen2" || attention_bias;  // Qwen2Attention: q/k/v biased, o not
  c.o_bias = type != "qwen2" && attention_bias;
  c.mlp_bias = get_bool(j, "mlp_bias", label, false);
  const std::string act = j.value("hidden_act", std::string("silu"));
  if (act != "silu")
    throw Error(label + ": hidden_act \"" + act + "\" is not supported (tformer implements silu, SwiGLU)");
  const double partial = get_number(j, "partial_rotary_factor", label, 1.0);
  if (partial != 1.0)
    throw Error(label + ": partial_rotary_factor " + std::to_string(partial) + " is not supported (only 1)");
  // A sliding window is in use when it is shorter than the context: mistral's sliding_window
  // (null in v0.2+), qwen2's when use_sliding_window is true.
  const bool window_on = type == "mistral" || get_bool(j, "use_sliding_window", label, false);
  if (window_on && j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    const auto& w = j["sliding_window"];
    if (!w.is_number_integer() || w.get<long>() < c.n_positions)
      throw Error(label + ": sliding_window " + w.dump() +
                  " is not supported (tformer attends to every earlier position; null or >= max_position_embeddings)");
  }
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token_id = j["bos_token_id"].get<int>();
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) {
      c.eos_token_ids = {e.get<int>()};
    } else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) throw Error(label + ": eos_token_id must be an integer or a list of them");
        c.eos_token_ids.push_back(x.get<int>());
      }
    } else if (!e.is_null()) {
      throw Error(label + ": eos_token_id must be an integer or a list of them, got " + e.dump());
    }
  }
  if (j.contains("tformer_tokenizer")) {
    if (j["tformer_tokenizer"] != "byte") throw Error(label + ": tformer_tokenizer must be \"byte\"");
    c.tokenizer = "byte";
    if (c.vocab_size < 256) throw Error(label + ": a byte-level model needs vocab_size >= 256");
  }
  return c;
}

}  // namespace

double flops_per_position(const Config& c, long t) {
  const double C = c.n_embd, att = 4.0 * double(t) * c.q_dim();
  if (c.llama()) {
    const double per_layer = 2.0 * (C * c.qkv_dim() + double(c.q_dim()) * C + 3.0 * C * c.intermediate_size);
    return c.n_layer * (per_layer + att) + 2.0 * double(c.vocab_size) * C;
  }
  return 2.0 * (c.n_layer * 12.0 * C * C + double(c.vocab_size) * C) + c.n_layer * att;
}

Config config_from_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) throw Error(label + ": expected a JSON object");
  if (j.contains("model_type")) {
    if (!j["model_type"].is_string())
      throw Error(label + ": model_type must be a string, got " + j["model_type"].dump());
    const std::string type = j["model_type"].get<std::string>();
    if (type == "llama" || type == "qwen2" || type == "mistral") return llama_from_json(j, label, type);
    if (type != "gpt2")
      throw Error(label + ": model_type \"" + type +
                  "\" is not supported (tformer implements gpt2, llama, qwen2, mistral)");
  }
  Config c;
  c.vocab_size = get_int(j, "vocab_size", label, true, 0);
  c.n_positions = get_int(j, "n_positions", label, true, 0);
  c.n_embd = get_int(j, "n_embd", label, true, 0);
  c.n_layer = get_int(j, "n_layer", label, true, 0);
  c.n_head = get_int(j, "n_head", label, true, 0);
  if (c.n_embd % c.n_head != 0)
    throw Error(label + ": n_embd " + std::to_string(c.n_embd) + " is not divisible by n_head " +
                std::to_string(c.n_head));
  if (j.contains("layer_norm_epsilon")) {
    if (!j["layer_norm_epsilon"].is_number() || j["layer_norm_epsilon"].get<double>() <= 0)
      throw Error(label + ": layer_norm_epsilon must be a positive number");
    c.layer_norm_epsilon = j["layer_norm_epsilon"].get<double>();
  }
  if (j.contains("tie_word_embeddings")) {
    if (!j["tie_word_embeddings"].is_boolean()) throw Error(label + ": tie_word_embeddings must be true or false");
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  if (j.contains("activation_function")) {
    const auto& a = j["activation_function"];
    if (!a.is_string() || (a != "gelu_new" && a != "gelu_pytorch_tanh"))
      throw Error(label + ": activation_function " + a.dump() +
                  " is not supported (tformer implements GPT-2's gelu_new)");
  }
  if (j.contains("n_inner") && !j["n_inner"].is_null() &&
      !(j["n_inner"].is_number_integer() && j["n_inner"].get<long>() == 4L * c.n_embd))
    throw Error(label + ": n_inner must be null or 4*n_embd");
  if (j.contains("tformer_tokenizer")) {
    if (!j["tformer_tokenizer"].is_string() || j["tformer_tokenizer"] != "byte")
      throw Error(label + ": tformer_tokenizer must be \"byte\"");
    c.tokenizer = "byte";
    if (c.vocab_size < 256) throw Error(label + ": a byte-level model needs vocab_size >= 256");
  }
  return c;
}

namespace {
nlohmann::json llama_to_json(const Config& c) {
  const char* arch = c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                     : c.model_type == "mistral" ? "MistralForCausalLM"
                                                 : "LlamaForCausalLM";
  nlohmann::json j = {{"architectures", {arch}},
                      {"model_type", c.model_type},
                      {"hidden_act", "silu"},
                      {"vocab_size", c.vocab_size},
                      {"hidden_size", c.n_embd},
                      {"intermediate_size", c.intermediate_size},
                      {"num_hidden_layers", c.n_layer},
                      {"num_attention_heads", c.n_head},
                      {"num_key_value_heads", c.kv_heads()},
                      {"head_dim", c.head_size()},
                      {"max_position_embeddings", c.n_positions},
                      {"rms_norm_eps", c.layer_norm_epsilon},
                      {"rope_theta", c.rope.theta},
                      {"rope_scaling", nullptr},
                      {"attention_bias", c.model_type == "qwen2" ? false : c.qkv_bias},
                      {"mlp_bias", c.mlp_bias},
                      {"initializer_range", 0.02},
                      {"tie_word_embeddings", c.tie_word_embeddings}};
  if (c.rope.scaling == RopeScaling::kLinear) j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope.factor}};
  if (c.rope.scaling == RopeScaling::kLlama3)
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope.factor},
                         {"low_freq_factor", c.rope.low_freq_factor},
                         {"high_freq_factor", c.rope.high_freq_factor},
                         {"original_max_position_embeddings", c.rope.original_max_positions}};
  if (c.rope.scaling == RopeScaling::kFreqFactors)
    j["rope_scaling"] = {{"rope_type", "tformer_freq_factors"}, {"freq_factors", c.rope.freq_factors}};
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  if (c.tokenizer == "byte") j["tformer_tokenizer"] = "byte";
  return j;
}
}  // namespace

nlohmann::json config_to_json(const Config& c) {
  if (c.llama()) return llama_to_json(c);
  nlohmann::json j = {{"architectures", {"GPT2LMHeadModel"}},
                      {"model_type", "gpt2"},
                      {"activation_function", "gelu_new"},
                      {"vocab_size", c.vocab_size},
                      {"n_positions", c.n_positions},
                      {"n_ctx", c.n_positions},
                      {"n_embd", c.n_embd},
                      {"n_layer", c.n_layer},
                      {"n_head", c.n_head},
                      {"n_inner", nullptr},
                      {"layer_norm_epsilon", c.layer_norm_epsilon},
                      {"initializer_range", 0.02},
                      {"resid_pdrop", 0.0},
                      {"embd_pdrop", 0.0},
                      {"attn_pdrop", 0.0},
                      {"tie_word_embeddings", c.tie_word_embeddings}};
  if (c.tokenizer == "byte") j["tformer_tokenizer"] = "byte";
  return j;
}

Config preset_config(const std::string& name) {
  Config c;
  if (name == "tiny") {
    c = {.vocab_size = 256, .n_positions = 256, .n_embd = 128, .n_layer = 4, .n_head = 4, .tokenizer = "byte"};
  } else if (name == "small") {
    c = {.vocab_size = 256, .n_positions = 256, .n_embd = 384, .n_layer = 6, .n_head = 6, .tokenizer = "byte"};
  } else if (name == "gpt2") {
    c = {.vocab_size = 50257, .n_positions = 1024, .n_embd = 768, .n_layer = 12, .n_head = 12, .tokenizer = ""};
  } else if (name == "smollm2-135m") {  // HuggingFaceTB/SmolLM2-135M's shapes
    c = {.vocab_size = 49152, .n_positions = 8192, .n_embd = 576, .n_layer = 30, .n_head = 9};
    c.layer_norm_epsilon = 1e-5;
    c.arch = Arch::kLlama;
    c.model_type = "llama";
    c.n_kv_head = 3;
    c.head_dim = 64;
    c.intermediate_size = 1536;
    c.rope.theta = 100000.0;
    c.bos_token_id = 0;
    c.eos_token_ids = {0};
  } else {
    throw UsageError("unknown preset '" + name + "' (known: tiny, small, gpt2, smollm2-135m)");
  }
  return c;
}

}  // namespace tf
