// A sequence's logits must not depend on what it is batched with: one Model::step over M
// sequences gives, row for row, the very bits of M steps of one sequence each. The server
// batches users' requests into one step, and a user's greedy text must not change with the
// traffic; so every kernel of the step computes a row with the same summation order at any M
// (no kernel picks a different algorithm, blocking or split of a row's sum by M).
#include <gtest/gtest.h>

#include <cstring>

#include "core/rng.h"
#include "model/model.h"

namespace tf {
namespace {

Config gpt2_config() {
  // C and the MLP width are past one vector of the row kernel and not a multiple of it.
  return Config{.vocab_size = 301, .n_positions = 40, .n_embd = 72, .n_layer = 2, .n_head = 4};
}

Config llama_config() {
  Config c;
  c.arch = Arch::kLlama;
  c.model_type = "llama";
  c.vocab_size = 257;
  c.n_positions = 40;
  c.n_embd = 76;
  c.n_layer = 2;
  c.n_head = 6;
  c.n_kv_head = 2;
  c.head_dim = 12;
  c.intermediate_size = 101;
  c.tie_word_embeddings = false;
  c.qkv_bias = true;
  c.layer_norm_epsilon = 1e-6;
  return c;
}

// M sequences with prompts of different lengths; then `steps` steps, all M batched in one cache,
// and each sequence alone in another: the logits (and the last hidden state) must be equal bits.
void check_batch_invariant(const Model& g, int M, int steps, uint64_t seed) {
  const Config& c = g.config();
  Rng r(seed);
  KvCache batched(c, M * c.n_positions), alone(c, M * c.n_positions);
  std::vector<KvSeq> sb(M), sa(M);
  std::vector<int> next(M);
  Workspace ws;
  for (int m = 0; m < M; ++m) {
    std::vector<int> prompt(1 + r.next() % 9);
    for (int& t : prompt) t = int(r.next() % c.vocab_size);
    g.prefill(ws, batched, sb[m], prompt);
    g.prefill(ws, alone, sa[m], prompt);
    next[m] = int(r.next() % c.vocab_size);
  }
  const int V = c.vocab_size;
  std::vector<float> lb(size_t(M) * V), la(V);
  for (int s = 0; s < steps; ++s) {
    std::vector<KvSeq*> all;
    for (auto& q : sb) all.push_back(&q);
    g.step(ws, batched, all, next, lb.data());
    std::vector<float> hb(ws.step_hidden(c.n_layer, 0), ws.step_hidden(c.n_layer, 0) + size_t(M) * c.n_embd);
    for (int m = 0; m < M; ++m) {
      KvSeq* one = &sa[m];
      g.step(ws, alone, std::span<KvSeq* const>(&one, 1), std::span<const int>(&next[m], 1), la.data());
      ASSERT_EQ(std::memcmp(la.data(), lb.data() + size_t(m) * V, sizeof(float) * V), 0)
          << "logits of sequence " << m << " of " << M << ", step " << s;
      ASSERT_EQ(std::memcmp(ws.step_hidden(c.n_layer, 0), hb.data() + size_t(m) * c.n_embd, sizeof(float) * c.n_embd),
                0)
          << "last hidden state of sequence " << m << " of " << M << ", step " << s;
    }
    for (int m = 0; m < M; ++m) next[m] = int(r.next() % V);
  }
}

TEST(StepBatch, EachRowIsTheBatchOfOneBitForBit) {
  for (const Config& c : {gpt2_config(), llama_config()})
    for (bool bf16 : {false, true}) {
      Model g(c);
      init_params(c, g.mutable_params().data(), 11);
      if (bf16) g.use_bf16_weights();
      // 2..8 rows share one pass of the row kernel; 11 and 17 take blocks of 8 and a remainder.
      for (int M : {2, 3, 5, 8, 11, 17}) {
        SCOPED_TRACE((c.llama() ? "llama" : "gpt2") + std::string(bf16 ? " bf16" : " fp32") + " M " +
                     std::to_string(M));
        check_batch_invariant(g, M, 3, 100 + M);
      }
    }
}

}  // namespace
}  // namespace tf
