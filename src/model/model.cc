// The model and its parallel pass: forward, the heads, backward (the block is in block.cc).
#include "model/model.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/kernels.h"
#include "model/block.h"
#include "model/llama_block.h"

namespace tf {

Model::Model(const Config& c) : cfg_(c), table_(param_table(c)), params_(param_count(table_)) {
  if (c.llama()) inv_freq_ = rope_inv_freq(c.rope, c.head_size());
}

// ---- the architecture dispatch (the one place that looks at Config::arch for the blocks)

int Model::fc_width() const { return cfg_.llama() ? 2 * cfg_.intermediate_size : 4 * cfg_.n_embd; }
int Model::act_width() const { return cfg_.llama() ? cfg_.intermediate_size : 4 * cfg_.n_embd; }

void Model::run_block(int l, const BlockActs& a, int N, const AttentionFn& attention, const LinearFn& linear) const {
  if (cfg_.llama()) return llama_block_forward(cfg_, layer(l), a, N, inv_freq_.data(), attention, linear);
  block_forward(cfg_, layer(l), a, N, attention, linear);
}

void Model::run_block_backward(int l, const BlockActs& a, int N, float* grads, GradScratch& g,
                               const AttentionBackwardFn& attention_backward) const {
  float* dresid = g.dresid.data();
  if (cfg_.llama())
    return llama_block_backward(cfg_, layer(l), layer_views(cfg_, grads, l), a, N, inv_freq_.data(), dresid, g,
                                attention_backward);
  block_backward(cfg_, layer(l), layer_views(cfg_, grads, l), a, N, dresid, g, attention_backward);
}

void Model::final_norm(float* out, float* mean, float* rstd, const float* x, int N) const {
  const ModelParams w = weights();
  const float eps = float(cfg_.layer_norm_epsilon);
  if (cfg_.llama()) return rmsnorm_forward(out, rstd, x, w.lnfw, N, cfg_.n_embd, eps);
  layernorm_forward(out, mean, rstd, x, w.lnfw, w.lnfb, N, cfg_.n_embd, eps);
}

void Model::final_norm_backward(float* dx, float* grads, const float* dout, const float* x, const float* mean,
                                const float* rstd, int N) const {
  const ModelGrads dw = model_views(cfg_, grads);
  const float* lnfw = weights().lnfw;
  if (cfg_.llama()) return rmsnorm_backward(dx, dw.lnfw, dout, x, lnfw, rstd, N, cfg_.n_embd);
  layernorm_backward(dx, dw.lnfw, dw.lnfb, dout, x, lnfw, mean, rstd, N, cfg_.n_embd);
}

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
  if (inference_only()) throw Error("use_bf16_weights: the model already holds bf16 or Q8_0 weights");
  bf16_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    bf16_[i] = float_to_bf16(params_[i]);
    params_[i] = bf16_to_float(bf16_[i]);
  }
}

void Model::use_q8_0_weights() {
  std::map<std::string, std::vector<BlockQ8_0>> blocks;
  for (const auto& t : table_) {
    if (t.shape.size() != 2) continue;
    if (t.shape[1] % kQ8Block != 0)
      throw Error("q8_0: tensor " + t.name + " has rows of " + std::to_string(t.shape[1]) +
                  "; Q8_0 needs a multiple of 32 (use --dtype bf16)");
    auto& b = blocks[t.name];
    b.resize(t.numel / kQ8Block);
    quantize_row_q8_0(b.data(), params_.data() + t.offset, t.numel);
  }
  use_q8_0_weights(blocks);
}

void Model::use_q8_0_weights(const std::map<std::string, std::vector<BlockQ8_0>>& given) {
  if (inference_only()) throw Error("use_q8_0_weights: the model already holds bf16 or Q8_0 weights");
  size_t total = 0;
  for (const auto& t : table_) {
    auto it = given.find(t.name);
    if (it == given.end()) continue;
    if (t.shape.size() != 2 || t.shape[1] % kQ8Block != 0 || it->second.size() != t.numel / kQ8Block)
      throw Error("q8_0: tensor " + t.name + " of shape " + shape_str(t.shape) + " cannot take " +
                  std::to_string(it->second.size()) + " Q8_0 blocks");
    total += it->second.size();
  }
  q8_.reserve(total);
  std::vector<size_t> run;  // offsets of the tensors of the current contiguous run
  size_t run_end = 0;       // where in params_ the run ends
  for (const auto& t : table_) {
    auto it = given.find(t.name);
    if (it == given.end()) continue;
    if (run.empty() || t.offset != run_end) run.clear();
    q8_at_[t.offset] = {q8_.size(), 0};
    run.push_back(t.offset);
    run_end = t.offset + t.numel;
    q8_.insert(q8_.end(), it->second.begin(), it->second.end());
    for (size_t o : run) q8_at_[o].second = q8_.size() - q8_at_[o].first;
    dequantize_row_q8_0(params_.data() + t.offset, it->second.data(), t.numel);
  }
}

void Model::drop_weight_copies() {
  bf16_ = {};
  q8_ = {};
  q8_at_ = {};
}

// ---- the parallel pass

void Model::ensure_acts(Workspace& ws, int B, int T) const {
  const size_t L = cfg_.n_layer, C = cfg_.n_embd, NH = cfg_.n_head;
  const size_t N = size_t(B) * T, QKV = cfg_.qkv_dim(), FC = fc_width(), ACT = act_width();
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
  a.qkv.resize(L * N * QKV);
  a.att.resize(L * B * NH * T * T);
  a.atty.resize(L * N * cfg_.q_dim());
  a.resid_mid.resize(L * N * C);
  a.ln2.resize(L * N * C);
  a.ln2_mean.resize(L * N);
  a.ln2_rstd.resize(L * N);
  a.fch.resize(L * N * FC);
  a.fch_gelu.resize(L * N * ACT);
  a.pos.resize(N);
  for (size_t i = 0; i < N; ++i) a.pos[i] = int(i % T);
  a.lnf.resize(N * C);
  a.lnf_mean.resize(N);
  a.lnf_rstd.resize(N);
  a.losses.resize(N);
  a.lse.resize(N);
  a.tokens.resize(N);
}

namespace {
// Layer l's slice of the parallel pass's activations (row widths as ensure_acts sized them).
BlockActs layer_acts(Activations& a, const Config& c, int l, size_t N, size_t FC, size_t ACT) {
  const size_t NC = N * c.n_embd;
  return {.x = a.resid.data() + l * NC,
          .ln1 = a.ln1.data() + l * NC,
          .ln1_mean = a.ln1_mean.data() + l * N,
          .ln1_rstd = a.ln1_rstd.data() + l * N,
          .qkv = a.qkv.data() + l * N * c.qkv_dim(),
          .atty = a.atty.data() + l * N * c.q_dim(),
          .mid = a.resid_mid.data() + l * NC,
          .ln2 = a.ln2.data() + l * NC,
          .ln2_mean = a.ln2_mean.data() + l * N,
          .ln2_rstd = a.ln2_rstd.data() + l * N,
          .fch = a.fch.data() + l * N * FC,
          .fch_gelu = a.fch_gelu.data() + l * N * ACT,
          .out = a.resid.data() + (l + 1) * NC,
          .pos = a.pos.data()};
}
}  // namespace

void Model::forward(Workspace& ws, const int* tokens, int B, int T) const {
  check_shape(B, T);
  const int N = B * T;
  check_tokens(tokens, N);
  ensure_acts(ws, B, T);
  auto& a = ws.acts;
  std::memcpy(a.tokens.data(), tokens, sizeof(int) * N);
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head, NKV = cfg_.kv_heads(), HS = cfg_.head_size();
  const ModelParams w = weights();
  embedding_forward(a.resid.data(), tokens, nullptr, w.wte, w.wpe, N, T, C);  // wpe null: rotary
  for (int l = 0; l < L; ++l) {
    float* att = a.att.data() + size_t(l) * B * NH * T * T;
    run_block(
        l, layer_acts(a, cfg_, l, N, fc_width(), act_width()), N,
        [&](float* atty, const float* qkv) { attention_gqa_forward(atty, att, qkv, B, T, NH, NKV, HS); },
        matmul_forward);
  }
  final_norm(a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(), a.resid.data() + size_t(L) * N * C, N);
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
  const size_t N = size_t(B) * T, NC = N * cfg_.n_embd;
  auto& g = ws.grad;
  g.dresid.resize(NC);
  g.dln.resize(NC);
  g.datty.resize(N * cfg_.q_dim());
  g.dlnf.resize(NC);
  g.dqkv.resize(N * cfg_.qkv_dim());
  g.datt.resize(size_t(B) * cfg_.n_head * T * T);
  g.dfch.resize(N * fc_width());
  g.dfch_gelu.resize(N * act_width());
}

void Model::backward(Workspace& ws, float* grads) const {
  if (inference_only()) throw Error("backward(): this model holds bf16 or Q8_0 weights for inference");
  auto& a = ws.acts;
  auto& g = ws.grad;
  const int B = a.B, T = a.T, N = B * T;
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head, NKV = cfg_.kv_heads(), HS = cfg_.head_size();
  const size_t NC = size_t(N) * C;
  const ModelGrads dw = model_views(cfg_, grads);
  std::fill(g.dresid.begin(), g.dresid.begin() + NC, 0.0f);
  final_norm_backward(g.dresid.data(), grads, g.dlnf.data(), a.resid.data() + L * NC, a.lnf_mean.data(),
                      a.lnf_rstd.data(), N);
  for (int l = L - 1; l >= 0; --l) {
    const BlockActs acts = layer_acts(a, cfg_, l, N, fc_width(), act_width());
    const float* att = a.att.data() + size_t(l) * B * NH * T * T;
    run_block_backward(l, acts, N, grads, g, [&](float* dqkv, const float* datty) {
      attention_gqa_backward(dqkv, g.datt.data(), datty, acts.qkv, att, B, T, NH, NKV, HS);
    });
  }
  embedding_backward(dw.wte, dw.wpe, g.dresid.data(), a.tokens.data(), N, T, C);
}

float Model::forward_backward(Workspace& ws, float* grads, const int* tokens, const int* targets, int B, int T,
                              float dloss_scale) const {
  if (inference_only()) throw Error("forward_backward(): this model holds bf16 or Q8_0 weights for inference");
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
