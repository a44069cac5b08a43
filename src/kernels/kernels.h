// The numerical kernels of tformer: forward/backward pairs, fp32, row-major.
//
// Shape vocabulary (used on every declaration in tformer):
//   B batch, T time (sequence length), C channels (n_embd), NH heads, HS head size (C/NH for
//   GPT-2), NKV key/value heads (NKV divides NH), QKV = (NH + 2·NKV)·HS a row of [q | k | v],
//   I the SwiGLU width, V vocabulary, L layers, N rows = B*T, OC output channels.
//
// Layout convention, stated once: every weight matrix of a linear layer is stored [OC, C]
// (as torch.nn.Linear, not as HF's Conv1D) and a linear layer computes out = inp · Wᵀ + b.
// The checkpoint loader transposes HF's Conv1D [C, OC] tensors, so no kernel guesses.
//
// Gradient rule, stated once: parameter gradients accumulate (+=); activation gradients are
// written (=), except along the residual stream (layernorm_backward's dinp), which accumulates.
//
// Determinism: every reduction is partitioned the same way at a given thread count, so a run
// and its resumed twin compute bit-identical numbers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "core/q8_0.h"

namespace tf {

// ---- bf16 (bf16_to_float, float_to_bf16) and fp16: core/half.h; Q8_0 blocks: core/q8_0.h

// ---- threads
// Loops over fewer elements than this run on the calling thread (an OpenMP `if` clause): below
// it, waking the team costs more than the loop saves. A decode step at M = 1 runs some 300
// small row ops (30 layers of norms, rotary, residual adds, SwiGLU); on a loaded machine each
// fork-join also waits for a descheduled thread. Transcendental loops (exp, sin/cos) use a
// quarter of it.
constexpr size_t kParallelMin = size_t(1) << 15;

// ---- matmul (oneDNN sgemm; see docs/gemm.md for why oneDNN)
// C[M,N] = alpha * op(A) · op(B) + beta * C, row-major, op = transpose when ta/tb.
void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc);
// The naive twin, a triple loop with double accumulation: the reference in tests.
void gemm_naive(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc);

// out (N,OC) = inp (N,C) · w (OC,C)ᵀ + bias (OC); bias may be null.
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int C, int OC);
// The same product for few rows (w streams once; more than 8 rows go 8 at a time under each row of w):
// decode's shape, where the weights are read from memory once per step. Any M is correct.
void matmul_rows(float* out, const float* inp, const float* w, const float* bias, int M, int C, int OC);
// The same with bf16 weights w (OC,C), widened to fp32 on load; products and sums in fp32.
void matmul_rows_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int M, int C, int OC);
// The instruction sets of the row kernels (fp32, bf16, Q8_0), widest last, chosen at run time
// (never by M: a row's result must not depend on its batch). cpu_rows_isa() is the widest this
// CPU runs; the _isa forms run a given one (capped at the CPU's), for tests and benchmarks.
// The environment variable TFORMER_MAX_ISA=avx2|scalar caps the choice (as ONEDNN_MAX_CPU_ISA
// caps oneDNN's), so that a machine with AVX-512 runs what an AVX2-only CPU would; any other
// value is an Error at first use.
enum class RowIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
RowIsa cpu_rows_isa();
RowIsa max_isa_from_env();
const char* row_isa_name(RowIsa isa);
void matmul_rows_isa(RowIsa isa, float* out, const float* inp, const float* w, const float* bias, int M, int C, int OC);
void matmul_rows_bf16_isa(RowIsa isa, float* out, const float* inp, const uint16_t* w, const float* bias, int M, int C,
                          int OC);
// The same with Q8_0 weights w (OC, C/32 blocks), C a multiple of 32: each block is widened to
// fp32 and scaled (d·q, exact), then fp32 FMAs, so the result is x · (the dequantized w) up to
// summation order; each row's order is the same for every M. Instruction set chosen at run time.
void matmul_rows_q8_0(float* out, const float* inp, const BlockQ8_0* w, const float* bias, int M, int C, int OC);
// Its naive twin, double accumulation: Σ_blocks d · Σ x·q (the reference in tests).
void matmul_rows_q8_0_naive(float* out, const float* inp, const BlockQ8_0* w, const float* bias, int M, int C, int OC);
// cpu_q8_0_isa() is the widest instruction set the Q8_0 kernel runs here (its vector paths
// also need F16C for the scales).
using Q8Isa = RowIsa;
Q8Isa cpu_q8_0_isa();
inline const char* q8_0_isa_name(Q8Isa isa) { return row_isa_name(isa); }
void matmul_rows_q8_0_isa(Q8Isa isa, float* out, const float* inp, const BlockQ8_0* w, const float* bias, int M, int C,
                          int OC);
// dinp (N,C) = dout · w (written, may be null); dw (OC,C) += doutᵀ · inp; dbias (OC) += Σ dout.
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int N,
                     int C, int OC);

// ---- layernorm over the last dimension
// out, inp (N,C); w, b (C); mean, rstd (N), kept for the backward.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps);
// dinp (N,C) += ...; dw, db (C) += ...
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C);

// ---- RMSNorm over the last dimension (Llama): out = inp / sqrt(mean(inp²) + eps) ⊙ w
// out, inp (N,C); w (C); rstd (N) kept for the backward (may be null).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C, float eps);
// dinp (N,C) += ... (the residual stream); dw (C) += ...
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                      int N, int C);

// ---- rotary position embeddings, Hugging Face's half-split layout (rotate_half): within each
// head of HS, element i < HS/2 pairs with i + HS/2 and the pair turns by pos·inv_freq[i]:
//   y[i] = x[i]·cos − x[i+HS/2]·sin,   y[i+HS/2] = x[i+HS/2]·cos + x[i]·sin.
// In place on x (N, stride): H heads of HS at columns [0, H·HS) of each row; pos (N);
// inv_freq (HS/2), double so that angles stay exact far into the context.
void rope_forward(float* x, const int* pos, const double* inv_freq, int N, int H, int HS, int stride);
// The backward is the rotation by −θ, in place on dx (N, stride), written.
void rope_backward(float* dx, const int* pos, const double* inv_freq, int N, int H, int HS, int stride);

// ---- SwiGLU: out (N,I) = silu(gate) ⊙ up, inp (N,2I) as [gate | up], silu(g) = g·σ(g)
void swiglu_forward(float* out, const float* inp, int N, int I);
void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int I);  // dinp (N,2I) =

// ---- GELU, tanh form (HF "gelu_new")
void gelu_forward(float* out, const float* inp, size_t n);
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n);  // dinp =

// ---- causal multi-head self-attention over a fused qkv
// qkv (B,T,3C) as [q | k | v] with head h at columns h*HS; att (B,NH,T,T) probabilities,
// zero above the diagonal; out (B,T,C).
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
// dqkv (B,T,3C) written; datt (B,NH,T,T) scratch.
void attention_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att, int B, int T,
                        int C, int NH);

// Grouped-query attention (Llama, Qwen2, Mistral): qkv (B,T,QKV) as [q (NH·HS) | k (NKV·HS) |
// v (NKV·HS)], query head h reads key/value head h / (NH/NKV); att (B,NH,T,T); out (B,T,NH·HS).
// NKV = NH is GPT-2's layout (attention_forward above is this with HS = C/NH), NKV = 1 is MQA.
void attention_gqa_forward(float* out, float* att, const float* qkv, int B, int T, int NH, int NKV, int HS);
// dqkv (B,T,QKV) written; datt (B,NH,T,T) scratch.
void attention_gqa_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att, int B,
                            int T, int NH, int NKV, int HS);

// One head's query against cached keys and values (decode):
// y = softmax(q·Kᵀ/sqrt(HS)) · V over the T positions rows[0..T), where position t's key is the
// HS floats at k + rows[t]·stride, its value likewise at v. q, y (HS); scores (T) scratch.
void attention_decode(float* y, float* scores, const float* q, const float* k, const float* v, const int* rows, int T,
                      size_t stride, int HS);

// ---- softmax cross-entropy, fused
// logits (N,V), targets (N); losses (N) = logsumexp - logit[target]; lse (N) kept.
void cross_entropy_forward(float* losses, float* lse, const float* logits, const int* targets, int N, int V);
// In place: logits (N,V) becomes dlogits = (softmax - onehot) * dloss (dloss the same for
// every row: 1 / number of predicted positions for a mean loss).
void cross_entropy_backward_inplace(float* logits, const float* lse, const int* targets, float dloss, int N, int V);

// ---- AdamW, PyTorch's formulation (torch.optim.AdamW, decoupled weight decay)
// t is the 1-based step. Applies to n contiguous parameters.
void adamw_update(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, long t);

}  // namespace tf

namespace tf {
// ---- residual stream: out (n) += x (n)
void residual_add(float* out, const float* x, size_t n);
// out (N,C) = wte[tokens] + wpe[positions]; positions null means 0..T-1 per row of T; wpe null
// (rotary models) means no position embedding.
void embedding_forward(float* out, const int* tokens, const int* positions, const float* wte, const float* wpe, int N,
                       int T, int C);
// dwte (V,C) += scatter of dout rows by token, dwpe (maxT,C) += by position t = i mod T (dwpe
// may be null).
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, int N, int T, int C);
}  // namespace tf
