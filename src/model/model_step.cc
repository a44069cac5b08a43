// The incremental mode: prefill a prompt into the KV cache, then one cached step at a time.
// The step runs the same block as the parallel pass (block.h) with attention over the cache.
#include <cstring>

#include "core/error.h"
#include "kernels/kernels.h"
#include "model/block.h"
#include "model/model.h"

namespace tf {

const float* Model::prefill(Workspace& ws, KvCache& cache, KvSeq& seq, std::span<const int> prompt) const {
  if (!seq.rows.empty()) throw Error("prefill needs an empty sequence");
  const int T = int(prompt.size());
  forward(ws, prompt.data(), 1, T);
  const float* logits = head_last(ws);
  // Rows of [q | k | v]: K at column NH·HS, V after it, KVD floats each (C for GPT-2).
  const int QKV = cfg_.qkv_dim(), Q = cfg_.q_dim(), KVD = cfg_.kv_dim();
  for (int t = 0; t < T; ++t) seq.rows.push_back(cache.alloc_row());
  for (int l = 0; l < cfg_.n_layer; ++l)
    for (int t = 0; t < T; ++t) {
      const float* qkv = ws.acts.qkv.data() + (size_t(l) * T + t) * QKV;
      std::memcpy(cache.k(l, seq.rows[t]), qkv + Q, sizeof(float) * KVD);
      std::memcpy(cache.v(l, seq.rows[t]), qkv + Q + KVD, sizeof(float) * KVD);
    }
  return logits;
}

void Model::ensure_step(Workspace& ws, int M) const {
  const size_t C = cfg_.n_embd, L = cfg_.n_layer;
  auto& s = ws.step;
  ws.C = cfg_.n_embd;
  ws.NH = cfg_.n_head;
  ws.V = cfg_.vocab_size;
  s.M = M;
  s.ln.resize(M * C);
  s.qkv.resize(M * size_t(cfg_.qkv_dim()));
  s.atty.resize(M * size_t(cfg_.q_dim()));
  s.mid.resize(M * C);
  s.fch.resize(M * size_t(fc_width()));
  s.act.resize(M * size_t(act_width()));
  s.pos.resize(M);
  s.scores.resize(size_t(M) * cfg_.n_head * cfg_.n_positions);
  s.lnf.resize(M * C);
  s.hidden.resize((L + 1) * M * C);
}

// Always the row kernel, never oneDNN's sgemm (which matmul_forward picks for 1 row and for
// more than 8): the row kernel sums each output in one fixed order whatever M is, so a
// sequence's logits do not depend on which other sequences share its step. The server batches
// requests into one step and promises each the result it gets alone; a last-bit difference
// would flip a greedy token on a near-tie. At M = 1 the two stream the weights equally fast
// (docs/gemm.md).
void Model::step_linear(float* out, const float* inp, const float* w, const float* bias, int M, int C, int OC) const {
  const size_t offset = w - params_.data();
  if (!q8_.empty())  // (a matrix the blocks do not cover, e.g. a mixed GGUF file's F16 one: the floats)
    if (auto it = q8_at_.find(offset); it != q8_at_.end() && it->second.second * kQ8Block >= size_t(OC) * C)
      return matmul_rows_q8_0(out, inp, q8_.data() + it->second.first, bias, M, C, OC);
  if (bf16_.empty()) return matmul_rows(out, inp, w, bias, M, C, OC);
  matmul_rows_bf16(out, inp, bf16_.data() + offset, bias, M, C, OC);
}

void Model::step(Workspace& ws, KvCache& cache, std::span<KvSeq* const> seqs, std::span<const int> tokens,
                 float* out) const {
  const int M = int(seqs.size());
  if (int(tokens.size()) != M) throw Error("step: one token per sequence");
  check_tokens(tokens.data(), tokens.size());
  for (auto* s : seqs)
    if (s->length() >= cfg_.n_positions)
      throw Error("sequence reached n_positions " + std::to_string(cfg_.n_positions) +
                  ": the model cannot attend further");
  ensure_step(ws, M);
  auto& s = ws.step;
  const int C = cfg_.n_embd, L = cfg_.n_layer, NH = cfg_.n_head, HS = cfg_.head_size();
  const int QKV = cfg_.qkv_dim(), Q = cfg_.q_dim(), KVD = cfg_.kv_dim(), G = NH / cfg_.kv_heads();
  const ModelParams w = weights();
  const size_t MC = size_t(M) * C;
  for (int m = 0; m < M; ++m) {
    s.pos[m] = seqs[m]->length();
    seqs[m]->rows.push_back(cache.alloc_row());
    embedding_forward(s.hidden.data() + size_t(m) * C, &tokens[m], &s.pos[m], w.wte, w.wpe, 1, 1, C);
  }
  const LinearFn linear = [this](float* o, const float* inp, const float* wt, const float* bias, int n, int c, int oc) {
    step_linear(o, inp, wt, bias, n, c, oc);
  };
  for (int l = 0; l < L; ++l) {
    // One set of scratch for every layer; the residual stream lands in hidden[l + 1].
    const BlockActs acts{.x = s.hidden.data() + l * MC,
                         .ln1 = s.ln.data(),
                         .ln1_mean = nullptr,
                         .ln1_rstd = nullptr,
                         .qkv = s.qkv.data(),
                         .atty = s.atty.data(),
                         .mid = s.mid.data(),
                         .ln2 = s.ln.data(),
                         .ln2_mean = nullptr,
                         .ln2_rstd = nullptr,
                         .fch = s.fch.data(),
                         .fch_gelu = cfg_.llama() ? s.act.data() : s.fch.data(),  // GELU in place
                         .out = s.hidden.data() + (l + 1) * MC,
                         .pos = s.pos.data()};
    // Attention over the cache: this position's K/V (rotated, for Llama) join its sequence's
    // rows, then each (sequence, head) attends over all of them, head h reading K/V head h / G.
    const auto attention = [&](float* atty, const float* qkv) {
      for (int m = 0; m < M; ++m) {
        const int row = seqs[m]->rows.back();
        std::memcpy(cache.k(l, row), qkv + size_t(m) * QKV + Q, sizeof(float) * KVD);
        std::memcpy(cache.v(l, row), qkv + size_t(m) * QKV + Q + KVD, sizeof(float) * KVD);
      }
      const size_t stride = cache.row_stride();
      // Short contexts attend on the calling thread: a few hundred cached rows are microseconds
      // of work, less than a fork-join (and a wait for a preempted thread on a busy machine).
      size_t rows = 0;
      for (int m = 0; m < M; ++m) rows += size_t(seqs[m]->length());
#pragma omp parallel for schedule(static) if (rows * NH * HS >= 4 * kParallelMin)
      for (int mh = 0; mh < M * NH; ++mh) {
        const int m = mh / NH, h = mh % NH, kv = (h / G) * HS;
        attention_decode(atty + size_t(m) * Q + h * HS, s.scores.data() + size_t(mh) * cfg_.n_positions,
                         qkv + size_t(m) * QKV + h * HS, cache.k(l, 0) + kv, cache.v(l, 0) + kv, seqs[m]->rows.data(),
                         seqs[m]->length(), stride, HS);
      }
    };
    run_block(l, acts, M, attention, linear);
  }
  final_norm(s.lnf.data(), nullptr, nullptr, s.hidden.data() + L * MC, M);
  step_linear(out, s.lnf.data(), w.lm_head, nullptr, M, C, cfg_.vocab_size);
}

}  // namespace tf
