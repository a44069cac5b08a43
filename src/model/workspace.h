// What one caller of the model owns: activations, scratch and the captured values of its last
// pass. The model itself (model.h) is const and shared; each training step, generation or
// HTTP request runs it with a workspace of its own, so two callers never wait on each other.
// A workspace allocates for the largest shape it has seen and reuses that memory afterwards.
#pragma once
#include <cstddef>
#include <vector>

namespace tf {

// What the parallel pass keeps for the backward (and for capture).
struct Activations {
  int B = 0, T = 0;
  // Shapes as GPT-2 | Llama where they differ (block.h's BlockActs).
  std::vector<float> resid;                    // (L+1, B, T, C): resid[0] = embeddings, resid[l+1] = block l
  std::vector<float> ln1, ln1_mean, ln1_rstd;  // (L, B, T, C), (L, B, T), (L, B, T)
  std::vector<float> qkv;                      // (L, B, T, 3C) | (L, B, T, QKV)
  std::vector<float> att;                      // (L, B, NH, T, T) probabilities
  std::vector<float> atty;                     // (L, B, T, C) attention output before c_proj | (.., NH·HS)
  std::vector<float> resid_mid;                // (L, B, T, C) = resid + attn
  std::vector<float> ln2, ln2_mean, ln2_rstd;
  std::vector<float> fch, fch_gelu;            // (L, B, T, 4C) | (L, B, T, 2I) and (L, B, T, I)
  std::vector<int> pos;                        // (B, T) rotary positions (Llama)
  std::vector<float> lnf, lnf_mean, lnf_rstd;  // (B, T, C), (B, T), (B, T)
  std::vector<float> logits;                   // (B·T, V) from head_all, (B, V) from head_last, one chunk of
                                               // (rows, V) inside head_loss
  std::vector<float> losses, lse;              // (B, T)
  std::vector<int> tokens;                     // (B, T)
};

// Scratch of the backward: one layer's activation gradients, reused layer after layer.
struct GradScratch {
  std::vector<float> dresid, dln, datty, dqkv, datt, dfch, dfch_gelu, dlnf;
};

// Scratch of the cached step, for M sequences.
struct StepScratch {
  int M = 0;
  std::vector<float> ln, qkv, atty, mid, fch, act, scores, lnf;  // act: Llama's silu(gate)·up
  std::vector<int> pos;                                          // (M) rotary positions
  std::vector<float> hidden;                                     // (L+1, M, C): the residual stream after each block
};

struct Workspace {
  Activations acts;
  GradScratch grad;
  StepScratch step;
  int C = 0, NH = 0, V = 0;  // of the model that last used it (for the views below)

  // Views of the last parallel pass: (T, C) rows of sequence b.
  const float* hidden(int l, int b = 0) const {  // l in [0, L]: 0 = embeddings
    const size_t NC = size_t(acts.B) * acts.T * C;
    return acts.resid.data() + l * NC + size_t(b) * acts.T * C;
  }
  const float* final_hidden(int b = 0) const { return acts.lnf.data() + size_t(b) * acts.T * C; }
  const float* attention(int l, int b = 0) const {  // (NH, T, T)
    const size_t TT = size_t(acts.T) * acts.T;
    return acts.att.data() + (size_t(l) * acts.B + b) * NH * TT;
  }
  // The residual stream of sequence m after block l (l in [0, L]) in the last step.
  const float* step_hidden(int l, int m) const { return step.hidden.data() + (size_t(l) * step.M + m) * C; }
};

}  // namespace tf
