#include "model/gguf_model.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/file.h"
#include "model/gguf_tokenizer.h"
#include "model/llama_block.h"

namespace fs = std::filesystem;

namespace tf {

namespace {

// ---- names

// llama.cpp's name of one of our tensors (llama-arch.cpp's LLM_TENSOR_NAMES).
std::string gguf_name(const Config& c, const std::string& name) {
  auto layer_of = [&](const std::string& prefix, std::string& rest) {
    const size_t dot = name.find('.', prefix.size());
    rest = name.substr(dot + 1);
    return "blk." + name.substr(prefix.size(), dot - prefix.size()) + ".";
  };
  std::string rest;
  if (name == "lm_head.weight") return "output.weight";
  if (c.llama()) {
    if (name == "model.embed_tokens.weight") return "token_embd.weight";
    if (name == "model.norm.weight") return "output_norm.weight";
    const std::string blk = layer_of("model.layers.", rest);
    static const std::pair<const char*, const char*> kMap[] = {
        {"input_layernorm.", "attn_norm."},    {"self_attn.q_proj.", "attn_q."},
        {"self_attn.k_proj.", "attn_k."},      {"self_attn.v_proj.", "attn_v."},
        {"self_attn.o_proj.", "attn_output."}, {"post_attention_layernorm.", "ffn_norm."},
        {"mlp.gate_proj.", "ffn_gate."},       {"mlp.up_proj.", "ffn_up."},
        {"mlp.down_proj.", "ffn_down."}};
    for (auto [ours, theirs] : kMap)
      if (rest.starts_with(ours)) return blk + theirs + rest.substr(std::string(ours).size());
  } else {
    if (name == "wte.weight") return "token_embd.weight";
    if (name == "wpe.weight") return "position_embd.weight";
    if (name.starts_with("ln_f.")) return "output_norm." + name.substr(5);
    const std::string blk = layer_of("h.", rest);
    static const std::pair<const char*, const char*> kMap[] = {
        {"ln_1.", "attn_norm."}, {"attn.c_attn.", "attn_qkv."}, {"attn.c_proj.", "attn_output."},
        {"ln_2.", "ffn_norm."},  {"mlp.c_fc.", "ffn_up."},      {"mlp.c_proj.", "ffn_down."}};
    for (auto [ours, theirs] : kMap)
      if (rest.starts_with(ours)) return blk + theirs + rest.substr(std::string(ours).size());
  }
  throw Error("gguf: no llama.cpp name for tensor " + name);  // a table entry this file forgot
}

std::string gguf_arch(const Config& c) {
  if (!c.llama()) return "gpt2";
  return c.model_type == "qwen2" ? "qwen2" : "llama";  // llama.cpp runs mistral as llama
}

// ---- llama's rotary layout

// HF's Llama rotates the halves of each head ([x0..x_{HS/2-1} | x_{HS/2}..]); llama.cpp's
// llama rotates adjacent pairs. convert_hf_to_gguf.py's permute() moves row h·HS + t·HS/2 + j
// to h·HS + 2j + t; unpermute is its inverse. Rows of width `width` elements: floats (1 for a
// bias), or a Q8_0 row's blocks (a row permutation moves whole blocks).
template <typename T>
void permute_rows(T* dst, const T* src, int heads, int HS, long width, bool inverse) {
  for (int h = 0; h < heads; ++h)
    for (int t = 0; t < 2; ++t)
      for (int j = 0; j < HS / 2; ++j) {
        const long hf = long(h) * HS + t * (HS / 2) + j, gg = long(h) * HS + 2 * j + t;
        const long from = inverse ? gg : hf, to = inverse ? hf : gg;
        std::copy(src + from * width, src + (from + 1) * width, dst + to * width);
      }
}

// The heads of a q or k tensor that llama.cpp permutes; 0 for any other tensor.
int permuted_heads(const Config& c, const std::string& name) {
  if (!c.llama() || gguf_arch(c) != "llama") return 0;
  if (name.find(".q_proj.") != std::string::npos) return c.n_head;
  if (name.find(".k_proj.") != std::string::npos) return c.kv_heads();
  return 0;
}

// The shortest decimal that reads back as the same float: metadata floats are F32, and 1e-5
// should come back as 1e-5 (what config.json says), not as 9.99999974738e-06.
double shortest(double f32_value) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, float(f32_value));
  double d = f32_value;
  std::from_chars(buf, r.ptr, d);
  return d;
}

// llama3 rope scaling as llama.cpp's rope_freqs tensor (convert_hf_to_gguf.py's rope_factors):
// for each of the HS/2 frequencies, what divides the unscaled one (1 = kept, factor = long
// wavelengths), or the factors the config carries as they are. Empty without either.
std::vector<float> rope_freq_factors(const Config& c) {
  if (c.rope.scaling == RopeScaling::kFreqFactors)
    return std::vector<float>(c.rope.freq_factors.begin(), c.rope.freq_factors.end());
  if (c.rope.scaling != RopeScaling::kLlama3) return {};
  Rope plain = c.rope;
  plain.scaling = RopeScaling::kNone;
  const std::vector<double> base = rope_inv_freq(plain, c.head_size()), scaled = rope_inv_freq(c.rope, c.head_size());
  std::vector<float> f(base.size());
  for (size_t i = 0; i < f.size(); ++i) f[i] = float(base[i] / scaled[i]);
  return f;
}

uint32_t file_type(GgmlType t) {  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32
  switch (t) {
    case GgmlType::kF32:
      return 0;
    case GgmlType::kF16:
      return 1;
    case GgmlType::kQ8_0:
      return 7;
    case GgmlType::kBF16:
      return 32;
    default:  // export writes only the four above
      return 0;
  }
}

}  // namespace

// ---- export

void export_gguf(const std::string& path, const Model& model, const std::string& tokenizer_dir, GgmlType dtype) {
  const Config& c = model.config();
  const std::string arch = gguf_arch(c);
  std::vector<std::pair<std::string, GgufValue>> kv;
  kv.emplace_back("general.architecture", GgufValue::str(arch));
  kv.emplace_back("general.name", GgufValue::str(fs::path(path).stem().string()));
  kv.emplace_back("general.file_type", GgufValue::u32(file_type(dtype)));
  auto u32 = [&](const std::string& key, long v) { kv.emplace_back(arch + "." + key, GgufValue::u32(uint32_t(v))); };
  auto f32 = [&](const std::string& key, double v) { kv.emplace_back(arch + "." + key, GgufValue::f32(float(v))); };
  u32("context_length", c.n_positions);
  u32("embedding_length", c.n_embd);
  u32("block_count", c.n_layer);
  u32("feed_forward_length", c.llama() ? c.intermediate_size : 4L * c.n_embd);
  u32("attention.head_count", c.n_head);
  if (c.llama()) {
    u32("attention.head_count_kv", c.kv_heads());
    f32("attention.layer_norm_rms_epsilon", c.layer_norm_epsilon);
    f32("rope.freq_base", c.rope.theta);
    u32("rope.dimension_count", c.head_size());
    u32("attention.key_length", c.head_size());
    u32("attention.value_length", c.head_size());
    if (c.rope.scaling == RopeScaling::kLinear) {
      kv.emplace_back(arch + ".rope.scaling.type", GgufValue::str("linear"));
      f32("rope.scaling.factor", c.rope.factor);
    }
    if (c.rope.scaling == RopeScaling::kLlama3) {
      // llama.cpp applies llama3 scaling as the rope_freqs tensor alone (below); HF's four
      // numbers travel too, under tformer's keys, so that the config reads back exactly.
      kv.emplace_back("tformer.rope.llama3.factor", GgufValue::f32(float(c.rope.factor)));
      kv.emplace_back("tformer.rope.llama3.low_freq_factor", GgufValue::f32(float(c.rope.low_freq_factor)));
      kv.emplace_back("tformer.rope.llama3.high_freq_factor", GgufValue::f32(float(c.rope.high_freq_factor)));
      kv.emplace_back("tformer.rope.llama3.original_max_position_embeddings",
                      GgufValue::u32(uint32_t(c.rope.original_max_positions)));
    }
  } else {
    f32("attention.layer_norm_epsilon", c.layer_norm_epsilon);
  }
  add_gguf_tokenizer(kv, c, tokenizer_dir);

  std::vector<std::vector<float>> permuted;  // q/k copies, alive until the write ends
  permuted.reserve(model.table().size());
  std::vector<GgufTensorOut> out;
  for (const auto& t : model.table()) {
    const float* src = model.params().data() + t.offset;
    if (const int heads = permuted_heads(c, t.name)) {
      std::vector<float> p(t.numel);
      permute_rows(p.data(), src, heads, c.head_size(), t.shape.size() == 2 ? t.shape[1] : 1, false);
      permuted.push_back(std::move(p));
      src = permuted.back().data();
    }
    GgmlType type = t.shape.size() == 2 ? dtype : GgmlType::kF32;
    if (type == GgmlType::kQ8_0 && t.shape[1] % 32 != 0)
      throw Error(path + ": tensor " + t.name + " has rows of " + std::to_string(t.shape[1]) +
                  "; Q8_0 needs a multiple of 32 (use --dtype f16)");
    out.push_back({gguf_name(c, t.name), t.shape, type, src});
  }
  const std::vector<float> freqs = rope_freq_factors(c);
  if (!freqs.empty()) out.push_back({"rope_freqs.weight", {long(freqs.size())}, GgmlType::kF32, freqs.data()});
  write_gguf(path, kv, out);
}

// ---- load

Config gguf_config(const Gguf& g) {
  const std::string arch = g.get_string("general.architecture");
  if (arch != "gpt2" && arch != "llama" && arch != "qwen2")
    throw Error(g.label() + ": general.architecture \"" + arch +
                "\" is not supported (tformer reads gpt2, llama, qwen2)");
  const GgufTensorInfo* embd = g.find("token_embd.weight");
  if (!embd || embd->dims.size() != 2) throw Error(g.label() + ": tensor token_embd.weight (2-D) is missing");
  auto u = [&](const std::string& key) { return g.get_uint(arch + "." + key); };
  auto f = [&](const std::string& key) { return shortest(g.get_float(arch + "." + key)); };
  auto has = [&](const std::string& name) { return g.find(name) != nullptr; };
  // The keys config.json would carry; config_from_json validates them.
  nlohmann::json j;
  j["model_type"] = arch;
  j["vocab_size"] = embd->dims[1];
  j["tie_word_embeddings"] = !has("output.weight");
  if (arch == "gpt2") {
    j["n_positions"] = u("context_length");
    j["n_embd"] = u("embedding_length");
    j["n_layer"] = u("block_count");
    j["n_head"] = u("attention.head_count");
    j["n_inner"] = u("feed_forward_length");
    j["layer_norm_epsilon"] = f("attention.layer_norm_epsilon");
  } else {
    j["max_position_embeddings"] = u("context_length");
    j["hidden_size"] = u("embedding_length");
    j["num_hidden_layers"] = u("block_count");
    j["intermediate_size"] = u("feed_forward_length");
    j["num_attention_heads"] = u("attention.head_count");
    j["num_key_value_heads"] =
        g.find_value(arch + ".attention.head_count_kv") ? u("attention.head_count_kv") : u("attention.head_count");
    j["rms_norm_eps"] = f("attention.layer_norm_rms_epsilon");
    j["rope_theta"] = g.find_value(arch + ".rope.freq_base") ? f("rope.freq_base") : 10000.0;
    const uint64_t hs = g.find_value(arch + ".attention.key_length")
                            ? u("attention.key_length")
                            : u("embedding_length") / std::max<uint64_t>(1, u("attention.head_count"));
    j["head_dim"] = hs;
    if (g.find_value(arch + ".rope.dimension_count") && u("rope.dimension_count") != hs)
      throw Error(g.label() + ": " + arch + ".rope.dimension_count " + std::to_string(u("rope.dimension_count")) +
                  " differs from the head size " + std::to_string(hs) + " (partial rotary is not supported)");
    if (auto* s = g.find_value(arch + ".rope.scaling.type"); s && s->s != "none") {
      if (s->type != GgufType::kString || s->s != "linear")
        throw Error(g.label() + ": " + arch + ".rope.scaling.type \"" + s->s + "\" is not supported (none, linear)");
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", f("rope.scaling.factor")}};
    }
    if (const GgufTensorInfo* freqs = g.find("rope_freqs.weight");
        freqs && !g.find_value("tformer.rope.llama3.factor")) {
      // llama.cpp's converter writes llama3 scaling as these per-frequency divisors alone; the
      // four numbers that made them cannot be recovered (only their ratios show), so the
      // model keeps the divisors themselves, the very numbers llama.cpp divides by.
      if (freqs->dims.size() != 1 || freqs->dims[0] != hs / 2)
        throw Error(g.label() + ": tensor rope_freqs.weight has shape " + shape_str(freqs->shape()) + ", head size " +
                    std::to_string(hs) + " needs [" + std::to_string(hs / 2) + "]");
      std::vector<double> factors;
      for (float x : g.read_f32(*freqs)) factors.push_back(x);
      j["rope_scaling"] = {{"rope_type", "tformer_freq_factors"}, {"freq_factors", factors}};
    } else if (freqs) {
      j["rope_scaling"] = {
          {"rope_type", "llama3"},
          {"factor", shortest(g.get_float("tformer.rope.llama3.factor"))},
          {"low_freq_factor", shortest(g.get_float("tformer.rope.llama3.low_freq_factor"))},
          {"high_freq_factor", shortest(g.get_float("tformer.rope.llama3.high_freq_factor"))},
          {"original_max_position_embeddings", g.get_uint("tformer.rope.llama3.original_max_position_embeddings")}};
    }
    if (arch == "llama") j["attention_bias"] = has("blk.0.attn_q.bias");
    j["mlp_bias"] = has("blk.0.ffn_up.bias");
  }
  if (g.find_value("tokenizer.ggml.bos_token_id")) j["bos_token_id"] = g.get_uint("tokenizer.ggml.bos_token_id");
  if (g.find_value("tokenizer.ggml.eos_token_id")) j["eos_token_id"] = g.get_uint("tokenizer.ggml.eos_token_id");
  if (auto* t = g.find_value("tformer.tokenizer")) {
    if (t->type != GgufType::kString || t->s != "byte") throw Error(g.label() + ": tformer.tokenizer must be \"byte\"");
    j["tformer_tokenizer"] = "byte";
  }
  return config_from_json(j, g.label());
}

LoadedModel load_gguf_model(const std::string& path) {
  const Gguf g(path);
  LoadedModel m;
  m.dir = path;
  const Config c = gguf_config(g);
  m.model = std::make_unique<Model>(c);
  std::map<std::string, std::vector<BlockQ8_0>> q8;  // the Q8_0 matrices, by our name
  for (const auto& t : m.model->table()) {
    const std::string name = gguf_name(c, t.name);
    const GgufTensorInfo* info = g.find(name);
    if (!info)
      throw Error(path + ": missing tensor " + name + " (config: " + std::to_string(c.n_layer) + " layers" +
                  (c.llama() ? std::string(", qkv bias ") + (c.qkv_bias ? "true" : "false") : "") + ")");
    if (info->shape() != t.shape)
      throw Error(path + ": tensor " + name + " has shape " + shape_str(info->shape()) + ", config wants " +
                  shape_str(t.shape));
    float* dst = m.model->mutable_params().data() + t.offset;
    const int heads = permuted_heads(c, t.name);
    const long width = t.shape.size() == 2 ? t.shape[1] : 1;
    if (info->type == GgmlType::kQ8_0 && t.shape.size() == 2) {
      // Kept as the file's blocks (no second rounding): the model decodes with exactly them.
      std::vector<BlockQ8_0> blocks = g.read_q8_0(*info);
      if (heads) {
        std::vector<BlockQ8_0> ours(blocks.size());
        permute_rows(ours.data(), blocks.data(), heads, c.head_size(), width / kQ8Block, true);
        blocks.swap(ours);
      }
      q8.emplace(t.name, std::move(blocks));
    } else if (heads) {
      const std::vector<float> src = g.read_f32(*info);
      permute_rows(dst, src.data(), heads, c.head_size(), width, true);
    } else {
      g.read_f32(*info, dst);
    }
  }
  // The factors llama.cpp would apply must be the ones the config implies.
  if (const GgufTensorInfo* info = g.find("rope_freqs.weight")) {
    const std::vector<float> want = rope_freq_factors(c), got = g.read_f32(*info);
    if (got.size() != want.size())
      throw Error(path + ": tensor rope_freqs.weight has " + std::to_string(got.size()) + " values, the head size " +
                  std::to_string(c.head_size()) + " needs " + std::to_string(want.size()));
    for (size_t i = 0; i < got.size(); ++i)
      if (std::abs(got[i] - want[i]) > 1e-5f * want[i])
        throw Error(path + ": rope_freqs.weight[" + std::to_string(i) + "] is " + std::to_string(got[i]) +
                    ", the tformer.rope.llama3.* keys give " + std::to_string(want[i]));
  }
  if (!q8.empty()) m.model->use_q8_0_weights(q8);  // sets those params to d·q
  m.tokenizer = gguf_tokenizer(g, c, &m.no_tokenizer);
  return m;
}

}  // namespace tf
