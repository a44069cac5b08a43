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
// The floats of each tensor of one layer, in param_table's buffer order (0: the architecture
// has none). GPT-2 and Llama share the order; Llama lacks the norms' biases, and its attention
// and MLP biases are optional.
struct LayerSizes {
  size_t ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb;
  size_t total() const {
    return ln1w + ln1b + qkvw + qkvb + attprojw + attprojb + ln2w + ln2b + fcw + fcb + fcprojw + fcprojb;
  }
};

LayerSizes layer_sizes(const Config& c) {
  const size_t C = c.n_embd;
  if (!c.llama()) return {C, C, 3 * C * C, 3 * C, C * C, C, C, C, 4 * C * C, 4 * C, 4 * C * C, C};
  const size_t QKV = c.qkv_dim(), Q = c.q_dim(), I = c.intermediate_size;
  return {C, 0, QKV * C,   c.qkv_bias ? QKV : 0,   C * Q, c.o_bias ? C : 0,
          C, 0, 2 * I * C, c.mlp_bias ? 2 * I : 0, C * I, c.mlp_bias ? C : 0};
}

// Where layer l starts: after the embeddings (wte; GPT-2's wpe too) and l layers.
size_t layer_offset(const Config& c, int l) {
  const size_t C = c.n_embd, embeddings = size_t(c.vocab_size) * C + (c.llama() ? 0 : size_t(c.n_positions) * C);
  return embeddings + layer_sizes(c).total() * l;
}

template <class F>
LayerViews<F> layer_views_of(const Config& c, F* base, int l) {
  const LayerSizes n = layer_sizes(c);
  F* p = base + layer_offset(c, l);
  LayerViews<F> v{};  // a tensor the architecture lacks stays null
  auto take = [&p](F*& view, size_t floats) {
    if (floats) view = p;
    p += floats;
  };
  take(v.ln1w, n.ln1w);
  take(v.ln1b, n.ln1b);
  take(v.qkvw, n.qkvw);
  take(v.qkvb, n.qkvb);
  take(v.attprojw, n.attprojw);
  take(v.attprojb, n.attprojb);
  take(v.ln2w, n.ln2w);
  take(v.ln2b, n.ln2b);
  take(v.fcw, n.fcw);
  take(v.fcb, n.fcb);
  take(v.fcprojw, n.fcprojw);
  take(v.fcprojb, n.fcprojb);
  return v;
}

template <class F>
ModelViews<F> model_views_of(const Config& c, F* base) {
  const size_t C = c.n_embd;
  ModelViews<F> v{};
  v.wte = base;
  if (!c.llama()) v.wpe = base + size_t(c.vocab_size) * C;
  v.lnfw = base + layer_offset(c, c.n_layer);
  if (!c.llama()) v.lnfb = v.lnfw + C;
  v.lm_head = c.tie_word_embeddings ? v.wte : v.lnfw + (c.llama() ? C : 2 * C);
  return v;
}

}  // namespace

LayerParams layer_views(const Config& c, const float* base, int l) { return layer_views_of(c, base, l); }
LayerGrads layer_views(const Config& c, float* base, int l) { return layer_views_of(c, base, l); }
ModelParams model_views(const Config& c, const float* base) { return model_views_of(c, base); }
ModelGrads model_views(const Config& c, float* base) { return model_views_of(c, base); }

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
