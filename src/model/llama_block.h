// The Llama block (Llama 2/3, SmolLM2, TinyLlama, Qwen2, Mistral), written once:
//   x += attn(rmsnorm_1(x));   x += mlp(rmsnorm_2(x))
// attn = o_proj(attention(rope(q), rope(k), v)) with grouped-query attention (NKV K/V heads,
// each shared by NH/NKV query heads), mlp = down_proj(silu(gate_proj(·)) ⊙ up_proj(·)).
// As block.h's GPT-2 block, the two modes pass in what differs: the attention (causal over the
// batch, or over the KV cache) and the linear layer (GEMM, or the decode row kernel); the
// positions of the N rows arrive in a.pos. The backward sits beside it, the same kernels in
// reverse order.
#pragma once
#include <vector>

#include "model/block.h"

namespace tf {

void llama_block_forward(const Config& c, const LayerParams& p, const BlockActs& a, int N, const double* inv_freq,
                         const AttentionFn& attention, const LinearFn& linear);

// dresid (N, C): d out on entry, d x on return. Parameter gradients accumulate into dp; g is
// scratch sized for N.
void llama_block_backward(const Config& c, const LayerParams& p, const LayerGrads& dp, const BlockActs& a, int N,
                          const double* inv_freq, float* dresid, GradScratch& g,
                          const AttentionBackwardFn& attention_backward);

// The rotary frequencies (HS/2) as transformers computes them (modeling_rope_utils.py):
// theta^(-2i/HS), divided by factor for linear scaling; for llama3, wavelengths 2π/f longer
// than original_max/low_freq_factor are divided by factor, shorter than
// original_max/high_freq_factor kept, and those between interpolated smoothly.
std::vector<double> rope_inv_freq(const Rope& r, int HS);

}  // namespace tf
