// A GPT-2 model as Hugging Face's GPT2LMHeadModel computes it, or a Llama-family model as
// LlamaForCausalLM does, in its two modes on one set of weights. Each architecture's block is
// written once (block.h, llama_block.h); the model dispatches on Config::arch in one place,
// run_block() and run_block_backward(), which both modes call:
//   - the parallel pass (training mode, teacher forcing): forward() runs B sequences of T
//     tokens at once, the causal mask inside attention; a head turns the final hidden states
//     into logits or into the loss and its gradient; backward() walks the blocks in reverse;
//   - the incremental mode (inference): prefill() runs a prompt through the parallel pass and
//     fills a KV cache, then step() advances M sequences by one token each from their cached
//     K/V.
// The model is const after loading: config, parameter table, weights and any bf16 or Q8_0 copy. Every
// pass takes the caller's Workspace (workspace.h) for its activations and scratch, so threads
// may share one model. Pointers returned by a pass point into that caller's workspace.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/q8_0.h"
#include "model/block.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/params.h"
#include "model/workspace.h"

namespace tf {

class Model {
 public:
  explicit Model(const Config& c);
  const Config& config() const { return cfg_; }
  const std::vector<ParamTensor>& table() const { return table_; }
  const std::vector<float>& params() const { return params_; }
  // For loading, initialising and the optimizer's update: never while another caller runs it.
  std::vector<float>& mutable_params() { return params_; }
  LayerParams layer(int l) const { return layer_views(cfg_, params_.data(), l); }
  ModelParams weights() const { return model_views(cfg_, params_.data()); }

  // ---- parallel pass
  // The body: embeddings, the L blocks and the final LayerNorm over tokens (B, T). Keeps every
  // activation in ws (hidden states and attention for capture, all of it for backward()).
  void forward(Workspace& ws, const int* tokens, int B, int T) const;
  // Heads over the last forward() in ws:
  // logits (B·T, V) of every position;
  const float* head_all(Workspace& ws) const;
  // logits (B, V) of the last position of each sequence (what the next token needs: at GPT-2's
  // V = 50257 the full head costs half as much again as the whole body);
  const float* head_last(Workspace& ws) const;
  // the mean cross-entropy over the B·T positions against targets (B, T), with the LM head and
  // the loss fused over chunks of `rows` positions (0: head_rows()), so the (B, T, V) logits are
  // never held (at GPT-2's V and B·T = 4096 they would be 0.8 GB). With grads (a buffer laid
  // out as params()), each chunk's logits become their gradient in place and are consumed by the
  // head's backward: grads += d(Σ losses · dloss_scale)/d lm_head, and d lnf is left in ws for
  // backward(). Without grads nothing is kept (evaluation).
  float head_loss(Workspace& ws, const int* targets, float* grads, float dloss_scale, int rows = 0) const;
  // After head_loss with grads: grads += the gradient of the body, block by block in reverse.
  void backward(Workspace& ws, float* grads) const;
  // The training step's pass: forward, head_loss with grads, backward. Returns the mean loss.
  float forward_backward(Workspace& ws, float* grads, const int* tokens, const int* targets, int B, int T,
                         float dloss_scale) const;
  // The mean loss of tokens against targets (evaluation).
  float loss(Workspace& ws, const int* tokens, const int* targets, int B, int T) const;
  // Positions per LM-head chunk: 2^24 / V floats of logits (64 MB), at least 16.
  int head_rows() const;

  // ---- incremental mode
  // The parallel pass over the prompt (B = 1) that appends its K/V rows to seq; returns the
  // logits of its last position (V floats in ws).
  const float* prefill(Workspace& ws, KvCache& cache, KvSeq& seq, std::span<const int> prompt) const;
  // One new token for each of M sequences, as one batched step: logits (M, V) written to out.
  void step(Workspace& ws, KvCache& cache, std::span<KvSeq* const> seqs, std::span<const int> tokens, float* out) const;

  // bf16 weights for inference: rounds every parameter to bf16 in place (the model becomes its
  // bf16-rounded self, so prefill and step still compute one function) and keeps a bf16 copy
  // that step() streams instead of the floats: decode reads half the bytes. Training refuses
  // such a model afterwards (the copy would go stale under an update).
  void use_bf16_weights();
  bool bf16_weights() const { return !bf16_.empty(); }
  // Q8_0 weights for inference (core/q8_0.h), the same contract: every matrix and embedding
  // (the 2-D tensors, as `export --dtype q8_0` writes them) is quantized, params replaced by the
  // dequantized values d·q, and step() streams the blocks (3.76× fewer bytes than fp32). Norms
  // and biases stay fp32. Every 2-D tensor needs rows of a multiple of 32 (an Error names the
  // first that has not).
  void use_q8_0_weights();
  // The same with the blocks of some tensors given (a Q8_0 GGUF file's, by table name, rows of
  // C/32 blocks in our row order): those are kept verbatim and params set to their values;
  // tensors not in `given` stay as they are, fp32, and step() reads them as floats.
  void use_q8_0_weights(const std::map<std::string, std::vector<BlockQ8_0>>& given);
  bool q8_0_weights() const { return !q8_.empty(); }
  // bf16 or Q8_0: training refuses the model (its copy would go stale under an update).
  bool inference_only() const { return bf16_weights() || q8_0_weights(); }
  // Drops the bf16 or Q8_0 copy: the model stays its rounded floats and can train again (fine-
  // tuning from a Q8_0 GGUF file).
  void drop_weight_copies();

 private:
  void check_tokens(const int* tokens, size_t n) const;
  void check_shape(int B, int T) const;
  void ensure_acts(Workspace& ws, int B, int T) const;
  void ensure_grad_scratch(Workspace& ws, int B, int T) const;
  void ensure_step(Workspace& ws, int M) const;
  // out (M, OC) = inp · wᵀ + bias for step(), w a matrix inside params_: from its bf16 twin
  // when use_bf16_weights() was called, from its Q8_0 blocks when it has them.
  void step_linear(float* out, const float* inp, const float* w, const float* bias, int M, int C, int OC) const;
  // The architecture dispatch: layer l's block (GPT-2 or Llama) over N positions, and its
  // backward; the final norm (LayerNorm or RMSNorm; mean may be null) and its backward.
  void run_block(int l, const BlockActs& a, int N, const AttentionFn& attention, const LinearFn& linear) const;
  void run_block_backward(int l, const BlockActs& a, int N, float* grads, GradScratch& g,
                          const AttentionBackwardFn& attention_backward) const;
  void final_norm(float* out, float* mean, float* rstd, const float* x, int N) const;
  void final_norm_backward(float* dx, float* grads, const float* dout, const float* x, const float* mean,
                           const float* rstd, int N) const;
  int fc_width() const;   // the MLP's first product per row: 4C | 2I
  int act_width() const;  // its activation per row: 4C | I
  Config cfg_;
  std::vector<ParamTensor> table_;
  std::vector<float> params_;
  std::vector<uint16_t> bf16_;  // params_ in bf16, same offsets, or empty
  std::vector<BlockQ8_0> q8_;   // the quantized matrices' blocks, one after another, or empty
  // A quantized matrix's offset in params_ -> {its first block in q8_, the blocks that follow
  // it contiguously in both}: Llama's step reads q|k|v and gate|up as one product over
  // adjacent tensors, which the blocks serve only when all of them are Q8_0.
  std::unordered_map<size_t, std::pair<size_t, size_t>> q8_at_;
  std::vector<double> inv_freq_;  // (HS/2) rotary frequencies (Llama), scaling applied
};

}  // namespace tf
