// The GPT-2 block, written once:   x += attn(ln_1(x));   x += mlp(ln_2(x)).
// block_forward computes it for N positions. What differs between the two modes is passed in:
//   - the parallel pass (training mode): N = B·T, attention causal over each sequence of the
//     batch, linear layers through the GEMM, every activation kept for block_backward;
//   - the cached step (inference mode): N = M sequences of one new position each, attention
//     over the KV cache, linear layers through the decode row kernel (fp32 or bf16 weights),
//     activations in scratch reused by every layer.
// block_backward sits beside it and walks the same kernels in reverse order.
#pragma once
#include <functional>

#include "model/config.h"
#include "model/params.h"
#include "model/workspace.h"

namespace tf {

// One layer's activations for N positions, shapes as GPT-2 | Llama (llama_block.h). mean/rstd
// may be null (nothing kept), and so may fch_gelu equal fch (GELU in place, GPT-2 only).
struct BlockActs {
  const float* x;                    // (N, C) the residual stream in
  float *ln1, *ln1_mean, *ln1_rstd;  // (N, C), (N), (N)               | RMSNorm: mean unused
  float* qkv;                        // (N, 3C) as [q | k | v]          | (N, QKV), q and k rotated
  float* atty;                       // (N, C) attention output, before c_proj | (N, NH·HS)
  float* mid;                        // (N, C) x + attn
  float *ln2, *ln2_mean, *ln2_rstd;  // (N, C), (N), (N)
  float* fch;                        // (N, 4C)                          | (N, 2I) as [gate | up]
  float* fch_gelu;                   // (N, 4C)                          | (N, I) silu(gate)·up
  float* out;                        // (N, C) mid + mlp: the residual stream out
  const int* pos = nullptr;          // unused                           | (N) rotary positions
};

// atty (N, C) from qkv (N, 3C).
using AttentionFn = std::function<void(float* atty, const float* qkv)>;
// out (N, OC) = inp (N, C) · w (OC, C)ᵀ + bias (OC).
using LinearFn =
    std::function<void(float* out, const float* inp, const float* w, const float* bias, int N, int C, int OC)>;
// dqkv (N, 3C) from datty (N, C): the attention's backward.
using AttentionBackwardFn = std::function<void(float* dqkv, const float* datty)>;

void block_forward(const Config& c, const LayerParams& p, const BlockActs& a, int N, const AttentionFn& attention,
                   const LinearFn& linear);

// dresid (N, C): d out on entry, d x on return (the residual stream's gradient flows through).
// Parameter gradients accumulate into dp; g is scratch sized for N.
void block_backward(const Config& c, const LayerParams& p, const LayerGrads& dp, const BlockActs& a, int N,
                    float* dresid, GradScratch& g, const AttentionBackwardFn& attention_backward);

}  // namespace tf
