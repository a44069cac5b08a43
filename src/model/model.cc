// The model and its parallel pass: forward, the heads, backward (the block is in block.cc).
#include "model/model.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/kernels.h"
#include "model/block.h"

namespace tf {

Model::Model(const Config& c) : cfg_(c), table_(param_table(c)), params_(param_count(table_)) {}

void Model::check_tokens(const int* tokens, size_t n) const {
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg_.vocab_size)
      throw Error("token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary (vocab_size " + std::to_string(cfg_.vocab_size) + ")");
}

void Model::check_shape(int B, int T) const {
  if (T < 1 || B < 1) throw Error("empty input: a pass needs at least one token");
  if (T > cfg_.n_positions)
    throw Error("sequence of " + std::to_string(T) + " tokens is longer than n_positions " +
                std::to_string(cfg_.n_positions));
}

int Model::head_rows() const { return std::max(16, (1 << 24) / cfg_.vocab_size); }

void Model::use_bf16_weights() {
  bf16_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    bf16_[i] = float_to_bf16(params_[i]);
    params_[i] = bf16_to_float(bf16_[i]);
  }
}

// ---- the parallel pass

void Model::ensure_acts(Workspace& ws, int B, int T) const {
  const size_t L = cfg_.n_layer, C = cfg_.n_embd, NH = cfg_.n_head;
  const size_t N = size_t(B) * T;
  ws.C = cfg_.n_embd;
  ws.NH = cfg_.n_head;
  ws.V = cfg_.vocab_size;
  auto& a = ws.acts;
  a.B = B;
  a.T = T;
  // resize() never shrinks capacity: once the largest shape has been seen, nothing allocates.
  a.resid.resize((L + 1) * N * C);
  a.ln1.resize(L * N * C);
  a.ln1_mean.resize(L * N);
  a.ln1_rstd.resize(L * N);
  a.qkv.resize(L * N * 3 * C);
  a.att.resize(L * B * NH * T * T);
  a.atty.resize(L * N * C);
  a.resid_mid.resize(L * N * C);
  a.ln2.resize(L * N * C);
  a.ln2_mean.resize(L * N);
  a.ln2_rstd.resize(L * N);
  a.fch.resize(L * N * 4 * C);
  a.fch_gelu.resize(L * N * 4 * C);
  a.lnf.resize(N * C);
  a.lnf_mean.resize(N);
  a.lnf_rstd.resize(N);
  a.losses.resize(N);
  a.lse.resize(N);
  a.tokens.resize(N);
}

namespace {
// Layer l's slice of the parallel pass's activations.
BlockActs layer_acts(Activations& a, int l, size_t N, size_t C) {
  const size_t NC = N * C;
  return {.x = a.resid.data() + l * NC,
          .ln1 = a.ln1.data() + l * NC,
          .ln1_mean = a.ln1_mean.data() + l * N,
          .ln1_rstd = a.ln1_rstd.data() + l * N,
          .qkv = a.qkv.data() + l * NC * 3,
          .atty = a.atty.data() + l * NC,
          .mid = a.resid_mid.data() + l * NC,
          .ln2 = a.ln2.data() + l * NC,
          .ln2_mean = a.ln2_mean.data() + l * N,
          .ln2_rstd = a.ln2_rstd.data() + l * N,
          .fch = a.fch.data() + l * NC * 4,
          .fch_gelu = a.fch_gelu.data() + l * NC * 4,
          .out = a.resid.data() + (l + 1) * NC};
}
}  // namespace

void Model::forward(Workspace& ws, const int* tokens, int B, int T) const {
  check_shape(B, T);
  const int N = B * T;
  check_tokens(tokens, N);
  ensure_acts(ws, B, T);
  auto& a = ws.acts;
  std::memcpy(a.tokens.data(), tokens, sizeof(int) * N);
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head;
  const ModelParams w = weights();
  embedding_forward(a.resid.data(), tokens, nullptr, w.wte, w.wpe, N, T, C);
  for (int l = 0; l < L; ++l) {
    float* att = a.att.data() + size_t(l) * B * NH * T * T;
    block_forward(
        cfg_, layer(l), layer_acts(a, l, N, C), N,
        [&](float* atty, const float* qkv) { attention_forward(atty, att, qkv, B, T, C, NH); }, matmul_forward);
  }
  layernorm_forward(a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(), a.resid.data() + size_t(L) * N * C, w.lnfw,
                    w.lnfb, N, C, float(cfg_.layer_norm_epsilon));
}

const float* Model::head_all(Workspace& ws) const {
  auto& a = ws.acts;
  const int N = a.B * a.T;
  a.logits.resize(size_t(N) * cfg_.vocab_size);
  matmul_forward(a.logits.data(), a.lnf.data(), weights().lm_head, nullptr, N, cfg_.n_embd, cfg_.vocab_size);
  return a.logits.data();
}

const float* Model::head_last(Workspace& ws) const {
  auto& a = ws.acts;
  const int C = cfg_.n_embd;
  // lnf holds every position; the head reads row T-1 of each sequence through its stride.
  a.logits.resize(size_t(a.B) * cfg_.vocab_size);
  for (int b = 0; b < a.B; ++b)
    matmul_forward(a.logits.data() + size_t(b) * cfg_.vocab_size, a.lnf.data() + (size_t(b) * a.T + a.T - 1) * C,
                   weights().lm_head, nullptr, 1, C, cfg_.vocab_size);
  return a.logits.data();
}

float Model::head_loss(Workspace& ws, const int* targets, float* grads, float dloss_scale, int rows) const {
  auto& a = ws.acts;
  const int N = a.B * a.T, C = cfg_.n_embd, V = cfg_.vocab_size;
  check_tokens(targets, N);
  const int R = std::min(N, rows > 0 ? rows : head_rows());
  a.logits.resize(size_t(R) * V);
  const float* lm_head = weights().lm_head;
  float* dlm_head = grads ? model_views(cfg_, grads).lm_head : nullptr;
  if (grads) ensure_grad_scratch(ws, a.B, a.T);
  for (int r0 = 0; r0 < N; r0 += R) {
    const int n = std::min(R, N - r0);
    const float* lnf = a.lnf.data() + size_t(r0) * C;
    matmul_forward(a.logits.data(), lnf, lm_head, nullptr, n, C, V);
    cross_entropy_forward(a.losses.data() + r0, a.lse.data() + r0, a.logits.data(), targets + r0, n, V);
    if (!grads) continue;
    cross_entropy_backward_inplace(a.logits.data(), a.lse.data() + r0, targets + r0, dloss_scale, n, V);
    matmul_backward(ws.grad.dlnf.data() + size_t(r0) * C, dlm_head, nullptr, a.logits.data(), lnf, lm_head, n, C, V);
  }
  double sum = 0;
  for (int i = 0; i < N; ++i) sum += a.losses[i];
  return float(sum / N);
}

// ---- the backward

void Model::ensure_grad_scratch(Workspace& ws, int B, int T) const {
  const size_t NC = size_t(B) * T * cfg_.n_embd;
  auto& g = ws.grad;
  g.dresid.resize(NC);
  g.dln.resize(NC);
  g.datty.resize(NC);
  g.dlnf.resize(NC);
  g.dqkv.resize(NC * 3);
  g.datt.resize(size_t(B) * cfg_.n_head * T * T);
  g.dfch.resize(NC * 4);
  g.dfch_gelu.resize(NC * 4);
}

void Model::backward(Workspace& ws, float* grads) const {
  if (bf16_weights()) throw Error("backward(): this model holds bf16 weights for inference");
  auto& a = ws.acts;
  auto& g = ws.grad;
  const int B = a.B, T = a.T, N = B * T;
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head;
  const size_t NC = size_t(N) * C;
  const ModelParams w = weights();
  const ModelGrads dw = model_views(cfg_, grads);
  std::fill(g.dresid.begin(), g.dresid.begin() + NC, 0.0f);
  layernorm_backward(g.dresid.data(), dw.lnfw, dw.lnfb, g.dlnf.data(), a.resid.data() + L * NC, w.lnfw,
                     a.lnf_mean.data(), a.lnf_rstd.data(), N, C);
  for (int l = L - 1; l >= 0; --l) {
    const BlockActs acts = layer_acts(a, l, N, C);
    const float* att = a.att.data() + size_t(l) * B * NH * T * T;
    block_backward(cfg_, layer(l), layer_views(cfg_, grads, l), acts, N, g.dresid.data(), g,
                   [&](float* dqkv, const float* datty) {
                     attention_backward(dqkv, g.datt.data(), datty, acts.qkv, att, B, T, C, NH);
                   });
  }
  embedding_backward(dw.wte, dw.wpe, g.dresid.data(), a.tokens.data(), N, T, C);
}

float Model::forward_backward(Workspace& ws, float* grads, const int* tokens, const int* targets, int B, int T,
                              float dloss_scale) const {
  if (bf16_weights()) throw Error("forward_backward(): this model holds bf16 weights for inference");
  forward(ws, tokens, B, T);
  const float loss = head_loss(ws, targets, grads, dloss_scale);
  backward(ws, grads);
  return loss;
}

float Model::loss(Workspace& ws, const int* tokens, const int* targets, int B, int T) const {
  forward(ws, tokens, B, T);
  return head_loss(ws, targets, nullptr, 0.0f);
}

}  // namespace tf
