#include "model/llama_block.h"

#include <cmath>
#include <numbers>

#include "kernels/kernels.h"

namespace tf {

void llama_block_forward(const Config& c, const LayerParams& p, const BlockActs& a, int N, const double* inv_freq,
                         const AttentionFn& attention, const LinearFn& linear) {
  const int C = c.n_embd, HS = c.head_size(), QKV = c.qkv_dim(), I = c.intermediate_size;
  const size_t NC = size_t(N) * C;
  const float eps = float(c.layer_norm_epsilon);
  // x += attn(rmsnorm_1(x)); q and k heads are the first NH + NKV heads of each qkv row.
  rmsnorm_forward(a.ln1, a.ln1_rstd, a.x, p.ln1w, N, C, eps);
  linear(a.qkv, a.ln1, p.qkvw, p.qkvb, N, C, QKV);
  rope_forward(a.qkv, a.pos, inv_freq, N, c.n_head + c.kv_heads(), HS, QKV);
  attention(a.atty, a.qkv);
  linear(a.mid, a.atty, p.attprojw, p.attprojb, N, c.q_dim(), C);
  residual_add(a.mid, a.x, NC);
  // x += mlp(rmsnorm_2(x))
  rmsnorm_forward(a.ln2, a.ln2_rstd, a.mid, p.ln2w, N, C, eps);
  linear(a.fch, a.ln2, p.fcw, p.fcb, N, C, 2 * I);
  swiglu_forward(a.fch_gelu, a.fch, N, I);
  linear(a.out, a.fch_gelu, p.fcprojw, p.fcprojb, N, I, C);
  residual_add(a.out, a.mid, NC);
}

void llama_block_backward(const Config& c, const LayerParams& p, const LayerGrads& dp, const BlockActs& a, int N,
                          const double* inv_freq, float* dresid, GradScratch& g,
                          const AttentionBackwardFn& attention_backward) {
  const int C = c.n_embd, HS = c.head_size(), QKV = c.qkv_dim(), I = c.intermediate_size;
  // out = mid + down(swiglu(gate_up(rmsnorm_2(mid)))); dresid holds d out and becomes d mid.
  matmul_backward(g.dfch_gelu.data(), dp.fcprojw, dp.fcprojb, dresid, a.fch_gelu, p.fcprojw, N, I, C);
  swiglu_backward(g.dfch.data(), a.fch, g.dfch_gelu.data(), N, I);
  matmul_backward(g.dln.data(), dp.fcw, dp.fcb, g.dfch.data(), a.ln2, p.fcw, N, C, 2 * I);
  rmsnorm_backward(dresid, dp.ln2w, g.dln.data(), a.mid, p.ln2w, a.ln2_rstd, N, C);
  // mid = x + o_proj(attention(rope(qkv(rmsnorm_1(x))))); dresid becomes d x.
  matmul_backward(g.datty.data(), dp.attprojw, dp.attprojb, dresid, a.atty, p.attprojw, N, c.q_dim(), C);
  attention_backward(g.dqkv.data(), g.datty.data());
  rope_backward(g.dqkv.data(), a.pos, inv_freq, N, c.n_head + c.kv_heads(), HS, QKV);
  matmul_backward(g.dln.data(), dp.qkvw, dp.qkvb, g.dqkv.data(), a.ln1, p.qkvw, N, C, QKV);
  rmsnorm_backward(dresid, dp.ln1w, g.dln.data(), a.x, p.ln1w, a.ln1_rstd, N, C);
}

std::vector<double> rope_inv_freq(const Rope& r, int HS) {
  std::vector<double> f(HS / 2);
  for (int i = 0; i < HS / 2; ++i) f[i] = 1.0 / std::pow(r.theta, 2.0 * i / HS);
  if (r.scaling == RopeScaling::kLinear)
    for (auto& x : f) x /= r.factor;
  if (r.scaling == RopeScaling::kFreqFactors)  // config validation: HS/2 of them
    for (int i = 0; i < HS / 2; ++i) f[i] /= r.freq_factors[size_t(i)];
  if (r.scaling == RopeScaling::kLlama3) {
    const double low_wavelen = r.original_max_positions / r.low_freq_factor;
    const double high_wavelen = r.original_max_positions / r.high_freq_factor;
    for (auto& x : f) {
      const double wavelen = 2 * std::numbers::pi / x;
      if (wavelen > low_wavelen) {
        x /= r.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (r.original_max_positions / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        x = (1 - smooth) * x / r.factor + smooth * x;
      }
    }
  }
  return f;
}

}  // namespace tf
