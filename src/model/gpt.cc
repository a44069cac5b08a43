#include "model/gpt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "kernels/kernels.h"

namespace tf {

Gpt::Gpt(const Config& c) : cfg_(c), table_(param_table(c)), params_(param_count(table_)) {}

void Gpt::check_tokens(const int* tokens, size_t n) const {
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= cfg_.vocab_size)
      throw Error("token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary (vocab_size " + std::to_string(cfg_.vocab_size) + ")");
}

int Gpt::head_rows() const { return std::max(16, (1 << 24) / cfg_.vocab_size); }

void Gpt::check_shape(int B, int T) const {
  if (T < 1 || B < 1) throw Error("empty input: a pass needs at least one token");
  if (T > cfg_.n_positions)
    throw Error("sequence of " + std::to_string(T) + " tokens is longer than n_positions " +
                std::to_string(cfg_.n_positions));
}

void Gpt::ensure_acts(int B, int T, Head head) {
  const size_t L = cfg_.n_layer, C = cfg_.n_embd, NH = cfg_.n_head, V = cfg_.vocab_size;
  const size_t N = size_t(B) * T;
  auto& a = acts_;
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
  const size_t logit_rows = head == Head::kAll ? N : head == Head::kLast ? size_t(B)
                           : std::min(N, size_t(head_rows()));
  a.logits.resize(logit_rows * V);
  a.losses.resize(N);
  a.lse.resize(N);
  a.tokens.resize(N);
  a.targets.resize(N);
}

float Gpt::forward_impl(const int* tokens, const int* targets, int B, int T, Head head,
                        float dloss_scale) {
  check_shape(B, T);
  const int N = B * T;
  check_tokens(tokens, N);
  if (targets) check_tokens(targets, N);
  if (!targets && (head == Head::kLoss || head == Head::kTrain)) throw Error("a loss needs targets");
  ensure_acts(B, T, head);
  auto& a = acts_;
  std::memcpy(a.tokens.data(), tokens, sizeof(int) * N);
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head, V = cfg_.vocab_size;
  const float eps = float(cfg_.layer_norm_epsilon);
  const size_t NC = size_t(N) * C;
  const ModelParams w = weights();

  embedding_forward(a.resid.data(), tokens, nullptr, w.wte, w.wpe, N, T, C);
  for (int l = 0; l < L; ++l) {
    const LayerParams p = layer(l);
    const float* x = a.resid.data() + l * NC;
    float* ln1 = a.ln1.data() + l * NC;
    float* qkv = a.qkv.data() + l * NC * 3;
    float* atty = a.atty.data() + l * NC;
    float* mid = a.resid_mid.data() + l * NC;
    float* ln2 = a.ln2.data() + l * NC;
    float* fch = a.fch.data() + l * NC * 4;
    float* fchg = a.fch_gelu.data() + l * NC * 4;
    float* out = a.resid.data() + (l + 1) * NC;
    // x += attn(ln_1(x))
    layernorm_forward(ln1, a.ln1_mean.data() + l * N, a.ln1_rstd.data() + l * N, x, p.ln1w,
                      p.ln1b, N, C, eps);
    matmul_forward(qkv, ln1, p.qkvw, p.qkvb, N, C, 3 * C);
    attention_forward(atty, a.att.data() + size_t(l) * B * NH * T * T, qkv, B, T, C, NH);
    matmul_forward(mid, atty, p.attprojw, p.attprojb, N, C, C);
    residual_add(mid, x, NC);
    // x += mlp(ln_2(x))
    layernorm_forward(ln2, a.ln2_mean.data() + l * N, a.ln2_rstd.data() + l * N, mid, p.ln2w,
                      p.ln2b, N, C, eps);
    matmul_forward(fch, ln2, p.fcw, p.fcb, N, C, 4 * C);
    gelu_forward(fchg, fch, NC * 4);
    matmul_forward(out, fchg, p.fcprojw, p.fcprojb, N, 4 * C, C);
    residual_add(out, mid, NC);
  }
  if (head == Head::kLast) {
    for (int b = 0; b < B; ++b) {  // row b of lnf/logits: the last position of sequence b
      layernorm_forward(a.lnf.data() + size_t(b) * C, nullptr, nullptr,
                        a.resid.data() + L * NC + (size_t(b) * T + T - 1) * C, w.lnfw, w.lnfb, 1, C, eps);
    }
    matmul_forward(a.logits.data(), a.lnf.data(), w.lm_head, nullptr, B, C, V);
    a.backward_ready = false;
    return std::numeric_limits<float>::quiet_NaN();
  }
  layernorm_forward(a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(),
                    a.resid.data() + L * NC, w.lnfw, w.lnfb, N, C, eps);
  if (head == Head::kAll) {
    matmul_forward(a.logits.data(), a.lnf.data(), w.lm_head, nullptr, N, C, V);
    a.backward_ready = targets != nullptr;
    if (!targets) return std::numeric_limits<float>::quiet_NaN();
    std::memcpy(a.targets.data(), targets, sizeof(int) * N);
    cross_entropy_forward(a.losses.data(), a.lse.data(), a.logits.data(), targets, N, V);
  } else {  // kLoss, kTrain: chunks of R positions through one (R, V) buffer
    const int R = std::min(N, head_rows());
    // The head's gradient (grads_ exists only for kTrain, which ensure_grad_scratch allocated).
    float* dlm_head = head == Head::kTrain ? model_views(cfg_, grads_.data()).lm_head : nullptr;
    for (int r0 = 0; r0 < N; r0 += R) {
      const int n = std::min(R, N - r0);
      const float* lnf = a.lnf.data() + size_t(r0) * C;
      matmul_forward(a.logits.data(), lnf, w.lm_head, nullptr, n, C, V);
      cross_entropy_forward(a.losses.data() + r0, a.lse.data() + r0, a.logits.data(), targets + r0, n, V);
      if (head != Head::kTrain) continue;
      cross_entropy_backward_inplace(a.logits.data(), a.lse.data() + r0, targets + r0, dloss_scale, n, V);
      matmul_backward(gs_.dlnf.data() + size_t(r0) * C, dlm_head, nullptr, a.logits.data(), lnf,
                      w.lm_head, n, C, V);
    }
    a.backward_ready = false;
  }
  double sum = 0;
  for (int i = 0; i < N; ++i) sum += a.losses[i];
  return float(sum / N);
}

const float* Gpt::hidden(int l, int b) const {
  const size_t NC = size_t(acts_.B) * acts_.T * cfg_.n_embd;
  return acts_.resid.data() + l * NC + size_t(b) * acts_.T * cfg_.n_embd;
}
const float* Gpt::final_hidden(int b) const {
  return acts_.lnf.data() + size_t(b) * acts_.T * cfg_.n_embd;
}
const float* Gpt::logits(int b) const {
  return acts_.logits.data() + size_t(b) * acts_.T * cfg_.vocab_size;
}
const float* Gpt::attention(int l, int b) const {
  const size_t TT = size_t(acts_.T) * acts_.T, NH = cfg_.n_head;
  return acts_.att.data() + (size_t(l) * acts_.B + b) * NH * TT;
}

// ---- incremental mode

const float* Gpt::prefill(KvCache& cache, KvSeq& seq, std::span<const int> prompt) {
  if (!seq.rows.empty()) throw Error("prefill needs an empty sequence");
  const int T = int(prompt.size());
  forward_impl(prompt.data(), nullptr, 1, T, Head::kLast);
  const int C = cfg_.n_embd;
  for (int t = 0; t < T; ++t) seq.rows.push_back(cache.alloc_row());
  for (int l = 0; l < cfg_.n_layer; ++l)
    for (int t = 0; t < T; ++t) {
      const float* qkv = acts_.qkv.data() + (size_t(l) * T + t) * 3 * C;
      std::memcpy(cache.k(l, seq.rows[t]), qkv + C, sizeof(float) * C);
      std::memcpy(cache.v(l, seq.rows[t]), qkv + 2 * C, sizeof(float) * C);
    }
  return acts_.logits.data();  // Head::kLast: row 0 is the last position's
}

void Gpt::ensure_step(int M) {
  const size_t C = cfg_.n_embd, L = cfg_.n_layer;
  ss_.M = M;
  ss_.x.resize(M * C);
  ss_.ln.resize(M * C);
  ss_.qkv.resize(M * 3 * C);
  ss_.atty.resize(M * C);
  ss_.fch.resize(M * 4 * C);
  ss_.scores.resize(size_t(M) * cfg_.n_head * cfg_.n_positions);
  ss_.lnf.resize(M * C);
  ss_.hidden.resize((L + 1) * M * C);
}

void Gpt::step(KvCache& cache, std::span<KvSeq* const> seqs, std::span<const int> tokens,
               float* out) {
  const int M = int(seqs.size());
  if (int(tokens.size()) != M) throw Error("step: one token per sequence");
  check_tokens(tokens.data(), tokens.size());
  for (auto* s : seqs)
    if (s->length() >= cfg_.n_positions)
      throw Error("sequence reached n_positions " + std::to_string(cfg_.n_positions) +
                  ": the model cannot attend further");
  ensure_step(M);
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head, HS = cfg_.head_size();
  const float eps = float(cfg_.layer_norm_epsilon);
  const ModelParams w = weights();
  float *x = ss_.x.data(), *ln = ss_.ln.data(), *qkv = ss_.qkv.data(), *atty = ss_.atty.data();
  for (int m = 0; m < M; ++m) {
    const int pos = seqs[m]->length();
    seqs[m]->rows.push_back(cache.alloc_row());
    embedding_forward(x + size_t(m) * C, &tokens[m], &pos, w.wte, w.wpe, 1, 1, C);
  }
  const size_t MC = size_t(M) * C;
  std::memcpy(ss_.hidden.data(), x, sizeof(float) * MC);
  for (int l = 0; l < L; ++l) {
    const LayerParams p = layer(l);
    layernorm_forward(ln, nullptr, nullptr, x, p.ln1w, p.ln1b, M, C, eps);
    step_matmul(qkv, ln, p.qkvw, p.qkvb, M, C, 3 * C);
    for (int m = 0; m < M; ++m) {
      const int row = seqs[m]->rows.back();
      std::memcpy(cache.k(l, row), qkv + size_t(m) * 3 * C + C, sizeof(float) * C);
      std::memcpy(cache.v(l, row), qkv + size_t(m) * 3 * C + 2 * C, sizeof(float) * C);
    }
    const size_t stride = cache.row_stride();
#pragma omp parallel for schedule(static)
    for (int mh = 0; mh < M * NH; ++mh) {
      const int m = mh / NH, h = mh % NH;
      attention_decode(atty + size_t(m) * C + h * HS, ss_.scores.data() + size_t(mh) * cfg_.n_positions,
                       qkv + size_t(m) * 3 * C + h * HS, cache.k(l, 0) + h * HS, cache.v(l, 0) + h * HS,
                       seqs[m]->rows.data(), seqs[m]->length(), stride, HS);
    }
    step_matmul(ln, atty, p.attprojw, p.attprojb, M, C, C);
    residual_add(x, ln, MC);
    layernorm_forward(ln, nullptr, nullptr, x, p.ln2w, p.ln2b, M, C, eps);
    step_matmul(ss_.fch.data(), ln, p.fcw, p.fcb, M, C, 4 * C);
    gelu_forward(ss_.fch.data(), ss_.fch.data(), MC * 4);
    step_matmul(ln, ss_.fch.data(), p.fcprojw, p.fcprojb, M, 4 * C, C);
    residual_add(x, ln, MC);
    std::memcpy(ss_.hidden.data() + (l + 1) * MC, x, sizeof(float) * MC);
  }
  layernorm_forward(ss_.lnf.data(), nullptr, nullptr, x, w.lnfw, w.lnfb, M, C, eps);
  step_matmul(out, ss_.lnf.data(), w.lm_head, nullptr, M, C, cfg_.vocab_size);
}

void Gpt::use_bf16_weights() {
  bf16_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    bf16_[i] = float_to_bf16(params_[i]);
    params_[i] = bf16_to_float(bf16_[i]);
  }
}

void Gpt::step_matmul(float* out, const float* inp, const float* w, const float* bias, int M,
                      int C, int OC) const {
  if (bf16_.empty()) return matmul_forward(out, inp, w, bias, M, C, OC);
  matmul_rows_bf16(out, inp, bf16_.data() + (w - params_.data()), bias, M, C, OC);
}

const float* Gpt::step_hidden(int l, int m) const {
  return ss_.hidden.data() + (size_t(l) * ss_.M + m) * cfg_.n_embd;
}
const float* Gpt::step_final(int m) const { return ss_.lnf.data() + size_t(m) * cfg_.n_embd; }

}  // namespace tf
