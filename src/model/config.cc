#include "model/config.h"

#include "core/error.h"

namespace tf {

namespace {

int get_int(const nlohmann::json& j, const char* key, const std::string& label, bool required, int def) {
  if (!j.contains(key)) {
    if (required) throw Error(label + ": missing key " + key);
    return def;
  }
  const auto& v = j[key];
  if (!v.is_number_integer() || v.get<long>() <= 0 || v.get<long>() > (1L << 30))
    throw Error(label + ": " + key + " must be a positive integer, got " + v.dump());
  return v.get<int>();
}

}  // namespace

double flops_per_position(const Config& c, long t) {
  const double C = c.n_embd;
  return 2.0 * (c.n_layer * 12.0 * C * C + double(c.vocab_size) * C) + c.n_layer * 4.0 * double(t) * C;
}

Config config_from_json(const nlohmann::json& j, const std::string& label) {
  if (!j.is_object()) throw Error(label + ": expected a JSON object");
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

nlohmann::json config_to_json(const Config& c) {
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
  } else {
    throw UsageError("unknown preset '" + name + "' (known: tiny, small, gpt2)");
  }
  return c;
}

}  // namespace tf
