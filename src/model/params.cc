#include "model/params.h"

#include <cmath>

#include "core/rng.h"

namespace tf {

std::vector<ParamTensor> param_table(const Config& c) {
  const long V = c.vocab_size, P = c.n_positions, C = c.n_embd;
  std::vector<ParamTensor> t;
  auto add = [&](std::string name, std::vector<long> shape, bool decay, bool conv1d) {
    ParamTensor p{std::move(name), std::move(shape), 0, 1, decay, conv1d};
    for (long d : p.shape) p.numel *= size_t(d);
    p.offset = t.empty() ? 0 : t.back().offset + t.back().numel;
    t.push_back(std::move(p));
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

LayerParams layer_views(const Config& c, const float* base, int l) { return layer_views_of(c, base, l); }
LayerGrads layer_views(const Config& c, float* base, int l) { return layer_views_of(c, base, l); }
ModelParams model_views(const Config& c, const float* base) { return model_views_of(c, base); }
ModelGrads model_views(const Config& c, float* base) { return model_views_of(c, base); }

void init_params(const Config& c, float* base, unsigned long seed) {
  Rng rng(seed);
  const float proj_std = 0.02f / std::sqrt(2.0f * c.n_layer);
  for (const auto& t : param_table(c)) {
    float* p = base + t.offset;
    const bool is_ln_weight = t.name.find("ln_") != std::string::npos && t.name.ends_with(".weight");
    const bool is_bias = t.name.ends_with(".bias");
    const bool is_proj = t.name.ends_with("c_proj.weight");
    for (size_t i = 0; i < t.numel; ++i)
      p[i] = is_ln_weight ? 1.0f : is_bias ? 0.0f : (is_proj ? proj_std : 0.02f) * rng.normal();
  }
}

}  // namespace tf
