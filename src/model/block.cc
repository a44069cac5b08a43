#include "model/block.h"

#include "kernels/kernels.h"

namespace tf {

void block_forward(const Config& c, const LayerParams& p, const BlockActs& a, int N, const AttentionFn& attention,
                   const LinearFn& linear) {
  const int C = c.n_embd;
  const size_t NC = size_t(N) * C;
  const float eps = float(c.layer_norm_epsilon);
  // x += attn(ln_1(x))
  layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, a.x, p.ln1w, p.ln1b, N, C, eps);
  linear(a.qkv, a.ln1, p.qkvw, p.qkvb, N, C, 3 * C);
  attention(a.atty, a.qkv);
  linear(a.mid, a.atty, p.attprojw, p.attprojb, N, C, C);
  residual_add(a.mid, a.x, NC);
  // x += mlp(ln_2(x))
  layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.mid, p.ln2w, p.ln2b, N, C, eps);
  linear(a.fch, a.ln2, p.fcw, p.fcb, N, C, 4 * C);
  gelu_forward(a.fch_gelu, a.fch, NC * 4);
  linear(a.out, a.fch_gelu, p.fcprojw, p.fcprojb, N, 4 * C, C);
  residual_add(a.out, a.mid, NC);
}

void block_backward(const Config& c, const LayerParams& p, const LayerGrads& dp, const BlockActs& a, int N,
                    float* dresid, GradScratch& g, const AttentionBackwardFn& attention_backward) {
  const int C = c.n_embd;
  const size_t NC = size_t(N) * C;
  // out = mid + c_proj(gelu(c_fc(ln_2(mid)))); dresid holds d out and becomes d mid.
  matmul_backward(g.dfch_gelu.data(), dp.fcprojw, dp.fcprojb, dresid, a.fch_gelu, p.fcprojw, N, 4 * C, C);
  gelu_backward(g.dfch.data(), a.fch, g.dfch_gelu.data(), NC * 4);
  matmul_backward(g.dln.data(), dp.fcw, dp.fcb, g.dfch.data(), a.ln2, p.fcw, N, C, 4 * C);
  layernorm_backward(dresid, dp.ln2w, dp.ln2b, g.dln.data(), a.mid, p.ln2w, a.ln2_mean, a.ln2_rstd, N, C);
  // mid = x + c_proj(attn(c_attn(ln_1(x)))); dresid becomes d x.
  matmul_backward(g.datty.data(), dp.attprojw, dp.attprojb, dresid, a.atty, p.attprojw, N, C, C);
  attention_backward(g.dqkv.data(), g.datty.data());
  matmul_backward(g.dln.data(), dp.qkvw, dp.qkvb, g.dqkv.data(), a.ln1, p.qkvw, N, C, 3 * C);
  layernorm_backward(dresid, dp.ln1w, dp.ln1b, g.dln.data(), a.x, p.ln1w, a.ln1_mean, a.ln1_rstd, N, C);
}

}  // namespace tf
