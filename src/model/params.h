// All parameters of a GPT in one contiguous buffer with named views (the optimizer loops over
// the flat buffer; the checkpoint code walks the names). Names are Hugging Face's, without the
// "transformer." prefix; matrices are stored [OC, C] (see kernels/kernels.h).
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
// float for a gradient buffer.
template <class F>
struct LayerViews {
  F* ln1w;      // (C)
  F* ln1b;      // (C)
  F* qkvw;      // (3C, C)
  F* qkvb;      // (3C)
  F* attprojw;  // (C, C)
  F* attprojb;  // (C)
  F* ln2w;      // (C)
  F* ln2b;      // (C)
  F* fcw;       // (4C, C)
  F* fcb;       // (4C)
  F* fcprojw;   // (C, 4C)
  F* fcprojb;   // (C)
};

template <class F>
struct ModelViews {
  F* wte;      // (V, C)
  F* wpe;      // (maxT, C)
  F* lnfw;     // (C)
  F* lnfb;     // (C)
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
// sqrt(2·L)). Draws in table order from Rng(seed).
void init_params(const Config& c, float* base, unsigned long seed);

}  // namespace tf
