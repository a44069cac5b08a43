#include "model/params.h"

#include <cmath>

#include "core/rng.h"

namespace tf {

namespace {
void add_tensor(std::vector<ParamTensor>& t, std::string name, std::vector<long> shape, bool decay, bool conv1d) {
  ParamTensor p{std::move(name), std::move(shape), 0, 1, decay, conv1d};
  for (long d : p.shape) p.numel *= size_t(d);
  p.offset = t.empty() ? 0 : t.back().offset + t.back().numel;
  t.push_back(std::move(p));
}

// Llama's table, in buffer order: q, k, v (then their biases) adjacent, gate and up adjacent
// (params.h says why). Matrices and embeddings decay; norms and biases do not.
std::vector<ParamTensor> llama_table(const Config& c) {
  const long V = c.vocab_size, C = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  std::vector<ParamTensor> t;
  auto add = [&](std::string name, std::vector<long> shape) {
    const bool decay = shape.size() == 2;
    add_tensor(t, std::move(name), std::move(shape), decay, false);
  };
  add("model.embed_tokens.weight", {V, C});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    add(h + "input_layernorm.weight", {C});
    add(h + "self_attn.q_proj.weight", {Q, C});
    add(h + "self_attn.k_proj.weight", {KV, C});
    add(h + "self_attn.v_proj.weight", {KV, C});
    if (c.qkv_bias) {
      add(h + "self_attn.q_proj.bias", {Q});
      add(h + "self_attn.k_proj.bias", {KV});
      add(h + "self_attn.v_proj.bias", {KV});
    }
    add(h + "self_attn.o_proj.weight", {C, Q});
    if (c.o_bias) add(h + "self_attn.o_proj.bias", {C});
    add(h + "post_attention_layernorm.weight", {C});
    add(h + "mlp.gate_proj.weight", {I, C});
    add(h + "mlp.up_proj.weight", {I, C});
    if (c.mlp_bias) {
      add(h + "mlp.gate_proj.bias", {I});
      add(h + "mlp.up_proj.bias", {I});
    }
    add(h + "mlp.down_proj.weight", {C, I});
    if (c.mlp_bias) add(h + "mlp.down_proj.bias", {C});
  }
  add("model.norm.weight", {C});
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, C});
  return t;
}

// Floats of one Llama layer, in the order of llama_table.
size_t llama_layer_floats(const Config& c) {
  const size_t C = c.n_embd, QKV = c.qkv_dim(), Q = c.q_dim(), I = c.intermediate_size;
  return 2 * C + QKV * C + (c.qkv_bias ? QKV : 0) + C * Q + (c.o_bias ? C : 0) + 2 * I * C + (c.mlp_bias ? 2 * I : 0) +
         C * I + (c.mlp_bias ? C : 0);
}

template <class F>
LayerViews<F> llama_layer_views(const Config& c, F* base, int l) {
  const size_t C = c.n_embd, QKV = c.qkv_dim(), Q = c.q_dim(), I = c.intermediate_size;
  F* p = base + size_t(c.vocab_size) * C + llama_layer_floats(c) * l;
  LayerViews<F> v{};
  auto take = [&p](size_t n) {
    F* r = p;
    p += n;
    return r;
  };
  v.ln1w = take(C);
  v.qkvw = take(QKV * C);
  if (c.qkv_bias) v.qkvb = take(QKV);
  v.attprojw = take(C * Q);
  if (c.o_bias) v.attprojb = take(C);
  v.ln2w = take(C);
  v.fcw = take(2 * I * C);
  if (c.mlp_bias) v.fcb = take(2 * I);
  v.fcprojw = take(C * I);
  if (c.mlp_bias) v.fcprojb = take(C);
  return v;
}

template <class F>
ModelViews<F> llama_model_views(const Config& c, F* base) {
  const size_t C = c.n_embd;
  ModelViews<F> v{};
  v.wte = base;
  v.lnfw = base + size_t(c.vocab_size) * C + llama_layer_floats(c) * c.n_layer;
  v.lm_head = c.tie_word_embeddings ? v.wte : v.lnfw + C;
  return v;
}
}  // namespace

std::vector<ParamTensor> param_table(const Config& c) {
  if (c.llama()) return llama_table(c);
  const long V = c.vocab_size, P = c.n_positions, C = c.n_embd;
  std::vector<ParamTensor> t;
  auto add = [&](std::string name, std::vector<long> shape, bool decay, bool conv1d) {
    add_tensor(t, std::move(name), std::move(shape), decay, conv1d);
  };
  add("wte.weight", {V, C}, true, false);
  add("wpe.weight", {P, C}, true, false);
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", {C}, false, false);
    add(h + "ln_1.bias", {C}, false, false);
    add(h + "attn.c_attn.weight", {3 * C, C}, true, true);
    add(h + "attn.c_attn.bias", {3 * C}, false, false);
    add(h + "attn.c_proj.weight", {C, C}, true, true);
    add(h + "attn.c_proj.bias", {C}, false, false);
    add(h + "ln_2.weight", {C}, false, false);
    add(h + "ln_2.bias", {C}, false, false);
    add(h + "mlp.c_fc.weight", {4 * C, C}, true, true);
    add(h + "mlp.c_fc.bias", {4 * C}, false, false);
    add(h + "mlp.c_proj.weight", {C, 4 * C}, true, true);
    add(h + "mlp.c_proj.bias", {C}, false, false);
  }
  add("ln_f.weight", {C}, false, false);
  add("ln_f.bias", {C}, false, false);
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, C}, true, false);
  return t;
}

size_t param_count(const std::vector<ParamTensor>& table) { return table.back().offset + table.back().numel; }

namespace {
// Offsets follow param_table: wte, wpe, then 12 tensors a layer, then ln_f, then lm_head.
size_t layer_offset(const Config& c, int l) {
  const size_t C = c.n_embd;
  const size_t per_layer =
      4 * C /* ln_1, ln_2 */ + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C);
  return size_t(c.vocab_size) * C + size_t(c.n_positions) * C + per_layer * l;
}

template <class F>
LayerViews<F> layer_views_of(const Config& c, F* base, int l) {
  const size_t C = c.n_embd;
  F* p = base + layer_offset(c, l);
  LayerViews<F> v{};
  v.ln1w = p;
  p += C;
  v.ln1b = p;
  p += C;
  v.qkvw = p;
  p += 3 * C * C;
  v.qkvb = p;
  p += 3 * C;
  v.attprojw = p;
  p += C * C;
  v.attprojb = p;
  p += C;
  v.ln2w = p;
  p += C;
  v.ln2b = p;
  p += C;
  v.fcw = p;
  p += 4 * C * C;
  v.fcb = p;
  p += 4 * C;
  v.fcprojw = p;
  p += 4 * C * C;
  v.fcprojb = p;
  return v;
}

template <class F>
ModelViews<F> model_views_of(const Config& c, F* base) {
  const size_t C = c.n_embd;
  ModelViews<F> v{};
  v.wte = base;
  v.wpe = base + size_t(c.vocab_size) * C;
  v.lnfw = base + layer_offset(c, c.n_layer);
  v.lnfb = v.lnfw + C;
  v.lm_head = c.tie_word_embeddings ? v.wte : v.lnfb + C;
  return v;
}

}  // namespace

LayerParams layer_views(const Config& c, const float* base, int l) {
  return c.llama() ? llama_layer_views(c, base, l) : layer_views_of(c, base, l);
}
LayerGrads layer_views(const Config& c, float* base, int l) {
  return c.llama() ? llama_layer_views(c, base, l) : layer_views_of(c, base, l);
}
ModelParams model_views(const Config& c, const float* base) {
  return c.llama() ? llama_model_views(c, base) : model_views_of(c, base);
}
ModelGrads model_views(const Config& c, float* base) {
  return c.llama() ? llama_model_views(c, base) : model_views_of(c, base);
}

void init_params(const Config& c, float* base, unsigned long seed) {
  Rng rng(seed);
  const float proj_std = 0.02f / std::sqrt(2.0f * c.n_layer);
  for (const auto& t : param_table(c)) {
    float* p = base + t.offset;
    if (c.llama()) {
      const bool is_norm = t.name.ends_with("norm.weight");
      for (size_t i = 0; i < t.numel; ++i) p[i] = is_norm ? 1.0f : t.shape.size() == 1 ? 0.0f : 0.02f * rng.normal();
      continue;
    }
    const bool is_ln_weight = t.name.find("ln_") != std::string::npos && t.name.ends_with(".weight");
    const bool is_bias = t.name.ends_with(".bias");
    const bool is_proj = t.name.ends_with("c_proj.weight");
    for (size_t i = 0; i < t.numel; ++i)
      p[i] = is_ln_weight ? 1.0f : is_bias ? 0.0f : (is_proj ? proj_std : 0.02f) * rng.normal();
  }
}

}  // namespace tf
