// The backward of the parallel pass, block by block in reverse, beside forward() in gpt.cc.
#include <algorithm>

#include "core/error.h"
#include "kernels/kernels.h"
#include "model/gpt.h"

namespace tf {

void Gpt::zero_grad() {
  if (grads_.size() != params_.size()) grads_.assign(params_.size(), 0.0f);
  else std::fill(grads_.begin(), grads_.end(), 0.0f);
}

void Gpt::ensure_grad_scratch(size_t B, size_t T) {
  if (grads_.size() != params_.size()) zero_grad();
  const size_t NC = B * T * cfg_.n_embd;
  auto& g = gs_;
  g.dresid.resize(NC);
  g.dln.resize(NC);
  g.datty.resize(NC);
  g.dlnf.resize(NC);
  g.dqkv.resize(NC * 3);
  g.datt.resize(B * cfg_.n_head * T * T);
  g.dfch.resize(NC * 4);
  g.dfch_gelu.resize(NC * 4);
}

void Gpt::backward(float dloss_scale) {
  auto& a = acts_;
  if (!a.backward_ready) throw Error("backward() needs a forward() with targets first");
  if (!bf16_.empty()) throw Error("backward(): this model holds bf16 weights for inference");
  ensure_grad_scratch(a.B, a.T);
  const int N = a.B * a.T, C = cfg_.n_embd, V = cfg_.vocab_size;
  const ModelParams w = weights();
  const ModelParams dw = model_views(cfg_, grads_.data());
  // loss -> logits (in place) -> the final LayerNorm's output
  cross_entropy_backward_inplace(a.logits.data(), a.lse.data(), a.targets.data(), dloss_scale,
                                 N, V);
  matmul_backward(gs_.dlnf.data(), dw.lm_head, nullptr, a.logits.data(), a.lnf.data(), w.lm_head,
                  N, C, V);
  backward_body();
  a.backward_ready = false;  // the logits now hold their gradient
}

float Gpt::forward_backward(const int* tokens, const int* targets, int B, int T,
                            float dloss_scale) {
  if (!bf16_.empty()) throw Error("forward_backward(): this model holds bf16 weights for inference");
  if (!targets) throw Error("forward_backward() needs targets");
  check_shape(B, T);
  ensure_grad_scratch(B, T);  // the fused head writes d lnf during the forward
  const float loss = forward_impl(tokens, targets, B, T, Head::kTrain, dloss_scale);
  backward_body();
  return loss;
}

float Gpt::loss(const int* tokens, const int* targets, int B, int T) {
  return forward_impl(tokens, targets, B, T, Head::kLoss);
}

void Gpt::backward_body() {
  auto& a = acts_;
  const int B = a.B, T = a.T, N = B * T;
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head;
  const size_t NC = size_t(N) * C;
  auto& g = gs_;
  const ModelParams w = weights();
  const ModelParams dw = model_views(cfg_, grads_.data());
  std::fill(g.dresid.begin(), g.dresid.end(), 0.0f);
  layernorm_backward(g.dresid.data(), dw.lnfw, dw.lnfb, g.dlnf.data(), a.resid.data() + L * NC,
                     w.lnfw, a.lnf_mean.data(), a.lnf_rstd.data(), N, C);

  for (int l = L - 1; l >= 0; --l) {
    const LayerParams p = layer(l);
    const LayerParams dp = layer_views(cfg_, grads_.data(), l);
    const float* x = a.resid.data() + l * NC;
    const float* mid = a.resid_mid.data() + l * NC;
    // out = mid + c_proj(gelu(c_fc(ln_2(mid)))); dresid holds d out and becomes d mid.
    matmul_backward(g.dfch_gelu.data(), dp.fcprojw, dp.fcprojb, g.dresid.data(),
                    a.fch_gelu.data() + l * NC * 4, p.fcprojw, N, 4 * C, C);
    gelu_backward(g.dfch.data(), a.fch.data() + l * NC * 4, g.dfch_gelu.data(), NC * 4);
    matmul_backward(g.dln.data(), dp.fcw, dp.fcb, g.dfch.data(), a.ln2.data() + l * NC, p.fcw, N,
                    C, 4 * C);
    layernorm_backward(g.dresid.data(), dp.ln2w, dp.ln2b, g.dln.data(), mid, p.ln2w,
                       a.ln2_mean.data() + l * N, a.ln2_rstd.data() + l * N, N, C);
    // mid = x + c_proj(attn(c_attn(ln_1(x)))); dresid becomes d x.
    matmul_backward(g.datty.data(), dp.attprojw, dp.attprojb, g.dresid.data(),
                    a.atty.data() + l * NC, p.attprojw, N, C, C);
    attention_backward(g.dqkv.data(), g.datt.data(), g.datty.data(), a.qkv.data() + l * NC * 3,
                       a.att.data() + size_t(l) * B * NH * T * T, B, T, C, NH);
    matmul_backward(g.dln.data(), dp.qkvw, dp.qkvb, g.dqkv.data(), a.ln1.data() + l * NC,
                    p.qkvw, N, C, 3 * C);
    layernorm_backward(g.dresid.data(), dp.ln1w, dp.ln1b, g.dln.data(), x, p.ln1w,
                       a.ln1_mean.data() + l * N, a.ln1_rstd.data() + l * N, N, C);
  }
  embedding_backward(dw.wte, dw.wpe, g.dresid.data(), a.tokens.data(), N, T, C);
}

}  // namespace tf
