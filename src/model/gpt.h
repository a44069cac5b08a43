// GPT-2 as Hugging Face's GPT2LMHeadModel computes it, in its two modes on one set of weights:
//   - the parallel pass (training mode, teacher forcing): B sequences of T tokens in one pass,
//     the causal mask inside attention; forward() then backward();
//   - the incremental mode (inference): prefill() a prompt in one parallel pass that fills a
//     KV cache, then step() one new token per sequence from the cached K/V.
// The block, in both modes:  x += attn(ln_1(x));  x += mlp(ln_2(x)).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/params.h"

namespace tf {

// What the parallel pass keeps for the backward (and for capture). Allocated once for the
// largest B·T seen; later passes of that size or smaller allocate nothing.
struct Activations {
  int B = 0, T = 0;
  std::vector<float> resid;     // (L+1, B, T, C): resid[0] = embeddings, resid[l+1] = block l
  std::vector<float> ln1, ln1_mean, ln1_rstd;  // (L, B, T, C), (L, B, T), (L, B, T)
  std::vector<float> qkv;       // (L, B, T, 3C)
  std::vector<float> att;       // (L, B, NH, T, T) probabilities
  std::vector<float> atty;      // (L, B, T, C) attention output before c_proj
  std::vector<float> resid_mid; // (L, B, T, C) = resid + attn
  std::vector<float> ln2, ln2_mean, ln2_rstd;
  std::vector<float> fch, fch_gelu;  // (L, B, T, 4C)
  std::vector<float> lnf, lnf_mean, lnf_rstd;  // (B, T, C), (B, T), (B, T)
  std::vector<float> logits;    // (B, T, V), dlogits in place after backward; (B, V) for the
                                // last positions; (head_rows, V) for the fused head
  std::vector<float> losses, lse;  // (B, T)
  std::vector<int> tokens, targets;  // (B, T)
  bool backward_ready = false;  // a forward() with targets whose logits are still intact
};

// Scratch of the backward: one layer's activation gradients, reused layer after layer.
struct GradScratch {
  std::vector<float> dresid, dln, datty, dqkv, datt, dfch, dfch_gelu, dlnf;
};

// Scratch of step(): sized for M sequences, allocated once per M.
struct StepScratch {
  int M = 0;
  std::vector<float> x, ln, qkv, atty, fch, scores, lnf;
  std::vector<float> hidden;  // (L+1, M, C): the residual stream after each block, for capture
};

class Gpt {
 public:
  explicit Gpt(const Config& c);
  const Config& config() const { return cfg_; }
  const std::vector<ParamTensor>& table() const { return table_; }
  std::vector<float>& params() { return params_; }
  const std::vector<float>& params() const { return params_; }
  std::vector<float>& grads() { return grads_; }  // allocated on the first backward
  LayerParams layer(int l) { return layer_views(cfg_, params_.data(), l); }
  ModelParams weights() { return model_views(cfg_, params_.data()); }

  // ---- parallel pass
  // tokens, targets (B,T); targets may be null. Returns the mean loss over the B·T positions
  // when targets are given, else NaN. Logits, hidden states and attention stay in acts().
  float forward(const int* tokens, const int* targets, int B, int T) {
    return forward_impl(tokens, targets, B, T, Head::kAll);
  }
  // After forward() with targets: grads += d(loss · dloss_scale)/dθ, where loss is the sum of
  // the per-position losses (so dloss_scale = 1/(B·T) gives the mean's gradient).
  void backward(float dloss_scale);
  // The parallel pass that only needs the next token: logits (B, V) of the last position of
  // each sequence (valid until the next call); hidden() and attention() stay valid,
  // final_hidden() and logits() do not.
  const float* forward_last(const int* tokens, int B, int T) {
    forward_impl(tokens, nullptr, B, T, Head::kLast);
    return acts_.logits.data();
  }
  // The training pass: forward(tokens, targets) then backward(dloss_scale), with the LM head
  // and the cross-entropy fused over chunks of head_rows() positions: each chunk's logits are
  // computed, turned into their gradient in place and consumed by the head's backward before
  // the next chunk, so the (B,T,V) logits are never held (at GPT-2's V = 50257 and B·T = 4096
  // they would be 0.8 GB). Returns the mean loss; logits() is not valid afterwards.
  float forward_backward(const int* tokens, const int* targets, int B, int T, float dloss_scale);
  // The mean loss of forward(tokens, targets) with the logits in chunks too (evaluation);
  // nothing is kept for backward().
  float loss(const int* tokens, const int* targets, int B, int T);
  // Positions per LM-head chunk: 2^24 / V floats of logits (64 MB), at least 16.
  int head_rows() const;
  void zero_grad();
  const Activations& acts() const { return acts_; }
  // Views into acts() of the last forward: (T,C) rows of sequence b.
  const float* hidden(int l, int b = 0) const;  // l in [0, L]
  const float* final_hidden(int b = 0) const;
  const float* logits(int b = 0) const;
  const float* attention(int l, int b = 0) const;  // (NH, T, T)

  // ---- incremental mode
  // Runs the parallel pass over the prompt (B = 1, as forward_last), appends its K/V rows to
  // seq, and returns the logits of the last position (V floats, valid until the next call).
  const float* prefill(KvCache& cache, KvSeq& seq, std::span<const int> prompt);
  // One new token for each of M sequences, as one batched step: logits (M, V) written to out.
  void step(KvCache& cache, std::span<KvSeq* const> seqs, std::span<const int> tokens, float* out);
  // bf16 weights for inference: rounds every parameter to bf16 in place (the model becomes its
  // bf16-rounded self, so prefill and step still compute one function) and keeps a bf16 copy
  // that step() streams instead of the floats: decode reads half the bytes. backward() refuses
  // afterwards (the copy would go stale under training).
  void use_bf16_weights();
  bool bf16_weights() const { return !bf16_.empty(); }

  // The residual stream of sequence m after block l (l in [0, L]) in the last step().
  const float* step_hidden(int l, int m) const;
  const float* step_final(int m) const;

 private:
  // Head::kLast: the final LayerNorm and the LM head run on the last position of each sequence
  // only (prefill needs just the next token's logits: at GPT-2's V = 50257 the full [T,V] head
  // costs half as much again as the whole body).
  // What the pass does after the final LayerNorm: the head over every position (logits kept),
  // the last position of each sequence only, the loss in chunks, or loss and head gradient in
  // chunks (forward_backward).
  enum class Head { kAll, kLast, kLoss, kTrain };
  float forward_impl(const int* tokens, const int* targets, int B, int T, Head head,
                     float dloss_scale = 0.0f);
  void ensure_acts(int B, int T, Head head);
  void ensure_grad_scratch(size_t B, size_t T);
  // The backward from d lnf (in gs_.dlnf) down to the embeddings.
  void backward_body();
  void ensure_step(int M);
  void check_tokens(const int* tokens, size_t n) const;
  void check_shape(int B, int T) const;
  Config cfg_;
  std::vector<ParamTensor> table_;
  // out (M,OC) = inp · wᵀ + bias for step(), w a matrix inside params_: from its bf16 twin when
  // use_bf16_weights() was called.
  void step_matmul(float* out, const float* inp, const float* w, const float* bias, int M, int C,
                   int OC) const;
  std::vector<float> params_, grads_;
  std::vector<uint16_t> bf16_;  // params_ in bf16, same offsets, or empty
  Activations acts_;
  GradScratch gs_;
  StepScratch ss_;
};

}  // namespace tf
