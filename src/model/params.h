// All parameters of a model in one contiguous buffer with named views (the optimizer loops over
// the flat buffer; the checkpoint code walks the names). Names are Hugging Face's: GPT-2's
// without the "transformer." prefix, Llama's in full (model.layers.3.self_attn.q_proj.weight);
// matrices are stored [OC, C] (see kernels/kernels.h).
//
// Llama's q/k/v projections lie one after another in the buffer, so together they are one
// (QKV, C) matrix and one linear layer computes [q | k | v] (as GPT-2's fused c_attn); likewise
// gate and up are one (2I, C) matrix, and their biases, when present, one vector.
#pragma once
#include <string>
#include <vector>

#include "model/config.h"

namespace tf {

struct ParamTensor {
  std::string name;         // e.g. "h.3.attn.c_attn.weight"
  std::vector<long> shape;  // our layout
  size_t offset = 0;        // into the flat buffer
  size_t numel = 0;
  bool decay = false;   // weight decay applies (matrices and embeddings)
  bool conv1d = false;  // HF stores it transposed ([C, OC], Conv1D)
};

// Views of one block's parameters (or of their gradients: same offsets, other buffer). F is
// const float for the model's own weights (read only: the model is shared between callers) and
// float for a gradient buffer. One struct for both architectures, shapes as GPT-2 | Llama;
// null where the architecture or the config has no such tensor.
template <class F>
struct LayerViews {
  F* ln1w;      // (C)                      | input_layernorm (C)
  F* ln1b;      // (C)                      | null
  F* qkvw;      // (3C, C)                  | q/k/v_proj (QKV, C)
  F* qkvb;      // (3C)                     | (QKV) or null
  F* attprojw;  // (C, C)                   | o_proj (C, NH·HS)
  F* attprojb;  // (C)                      | (C) or null
  F* ln2w;      // (C)                      | post_attention_layernorm (C)
  F* ln2b;      // (C)                      | null
  F* fcw;       // (4C, C)                  | gate/up_proj (2I, C)
  F* fcb;       // (4C)                     | (2I) or null
  F* fcprojw;   // (C, 4C)                  | down_proj (C, I)
  F* fcprojb;   // (C)                      | (C) or null
};

template <class F>
struct ModelViews {
  F* wte;      // (V, C)                    | embed_tokens
  F* wpe;      // (maxT, C)                 | null
  F* lnfw;     // (C)                       | model.norm (C)
  F* lnfb;     // (C)                       | null
  F* lm_head;  // (V, C): wte when tied
};

// The tensor table of a config, in buffer order.
std::vector<ParamTensor> param_table(const Config& c);
size_t param_count(const std::vector<ParamTensor>& table);

using LayerParams = LayerViews<const float>;
using LayerGrads = LayerViews<float>;
using ModelParams = ModelViews<const float>;
using ModelGrads = ModelViews<float>;

// Named views into a flat buffer laid out by param_table.
LayerParams layer_views(const Config& c, const float* base, int l);
LayerGrads layer_views(const Config& c, float* base, int l);
ModelParams model_views(const Config& c, const float* base);
ModelGrads model_views(const Config& c, float* base);

// GPT-2 initialisation (HF's _init_weights): N(0, 0.02) for matrices and embeddings, biases 0,
// LayerNorm 1/0, and the residual output projections (attn.c_proj, mlp.c_proj) N(0, 0.02 /
// sqrt(2·L)). Llama (LlamaPreTrainedModel): N(0, 0.02) for matrices and embeddings, biases 0,
// RMSNorm weights 1. Draws in table order from Rng(seed).
void init_params(const Config& c, float* base, unsigned long seed);

}  // namespace tf
