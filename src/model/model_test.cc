// The two modes agree: logits and hidden states of cached steps equal the parallel pass at
// every position, over random configs, batch sizes and prompt lengths. Plus whole-model
// finite differences and the parameter views.
#include "model/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/kernels.h"

namespace tf {
namespace {

Config random_config(Rng& r) {
  Config c;
  c.n_head = 1 + int(r.next() % 4);
  c.n_embd = c.n_head * (2 + int(r.next() % 6)) * 2;
  c.n_layer = 1 + int(r.next() % 3);
  c.vocab_size = 5 + int(r.next() % 60);
  c.n_positions = 8 + int(r.next() % 24);
  c.tie_word_embeddings = r.next() % 2;
  return c;
}

void randomise(Model& g, uint64_t seed) {
  init_params(g.config(), g.mutable_params().data(), seed);
  Rng r(seed + 1);  // LayerNorm and biases too, so a mistake with them shows
  for (auto& p : g.mutable_params()) p += 0.05f * r.normal();
}

float scale_of(const float* x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return std::max(m, 1.0f);
}

TEST(Params, ViewsMatchTheTable) {
  Config c{.vocab_size = 11, .n_positions = 7, .n_embd = 6, .n_layer = 3, .n_head = 2};
  c.tie_word_embeddings = false;
  Model g(c);
  const float* base = g.params().data();
  for (const auto& t : g.table()) {
    const float* p = base + t.offset;
    if (t.name == "wte.weight") {
      EXPECT_EQ(p, g.weights().wte);
    }
    if (t.name == "wpe.weight") {
      EXPECT_EQ(p, g.weights().wpe);
    }
    if (t.name == "ln_f.weight") {
      EXPECT_EQ(p, g.weights().lnfw);
    }
    if (t.name == "ln_f.bias") {
      EXPECT_EQ(p, g.weights().lnfb);
    }
    if (t.name == "lm_head.weight") {
      EXPECT_EQ(p, g.weights().lm_head);
    }
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string h = "h." + std::to_string(l) + ".";
      const LayerParams v = g.layer(l);
      if (t.name == h + "ln_1.weight") {
        EXPECT_EQ(p, v.ln1w);
      }
      if (t.name == h + "attn.c_attn.bias") {
        EXPECT_EQ(p, v.qkvb);
      }
      if (t.name == h + "attn.c_proj.weight") {
        EXPECT_EQ(p, v.attprojw);
      }
      if (t.name == h + "ln_2.bias") {
        EXPECT_EQ(p, v.ln2b);
      }
      if (t.name == h + "mlp.c_fc.weight") {
        EXPECT_EQ(p, v.fcw);
      }
      if (t.name == h + "mlp.c_proj.bias") {
        EXPECT_EQ(p, v.fcprojb);
      }
    }
  }
  EXPECT_EQ(param_count(g.table()), g.params().size());
}

// Random batch and prompt lengths; every cached step's logits and hidden states against the
// parallel pass over the same tokens.
void check_modes_agree(const Model& g, Rng& r, int trial) {
  {
    Workspace ws;
    const Config& c = g.config();
    const int B = 1 + int(r.next() % 3), T = 1 + int(r.next() % c.n_positions);
    std::vector<int> tokens(B * T);
    for (auto& t : tokens) t = int(r.next() % c.vocab_size);
    g.forward(ws, tokens.data(), B, T);
    const int V = c.vocab_size, C = c.n_embd, L = c.n_layer;
    // Keep the parallel results: the prefills below reuse the workspace.
    const float* all = g.head_all(ws);
    std::vector<float> logits(all, all + size_t(B) * T * V);
    std::vector<std::vector<float>> hidden(L + 1);
    for (int l = 0; l <= L; ++l) hidden[l].assign(ws.hidden(l), ws.hidden(l) + size_t(B) * T * C);
    const float lscale = scale_of(logits.data(), logits.size());

    // Each sequence prefills its own prompt length; then all B step together as one batch.
    KvCache cache(c, B * T);
    std::vector<KvSeq> seqs(B);
    std::vector<int> plen(B);
    for (int b = 0; b < B; ++b) {
      plen[b] = 1 + int(r.next() % T);
      const float* l = g.prefill(ws, cache, seqs[b], std::span<const int>(tokens.data() + b * T, plen[b]));
      for (int v = 0; v < V; ++v)
        ASSERT_NEAR(l[v], logits[(size_t(b) * T + plen[b] - 1) * V + v], 1e-5f * lscale) << "prefill";
    }
    std::vector<float> out(size_t(B) * V);
    for (int step = 0;; ++step) {
      std::vector<KvSeq*> ss;
      std::vector<int> toks, who;
      for (int b = 0; b < B; ++b)
        if (plen[b] + step < T) {
          ss.push_back(&seqs[b]);
          toks.push_back(tokens[b * T + plen[b] + step]);
          who.push_back(b);
        }
      if (ss.empty()) break;
      g.step(ws, cache, ss, toks, out.data());
      for (size_t m = 0; m < who.size(); ++m) {
        const int b = who[m], t = plen[b] + step;
        for (int v = 0; v < V; ++v)
          ASSERT_NEAR(out[m * V + v], logits[(size_t(b) * T + t) * V + v], 1e-5f * lscale)
              << "trial " << trial << " b " << b << " t " << t;
        for (int l = 0; l <= L; ++l) {
          const float* ref = hidden[l].data() + (size_t(b) * T + t) * C;
          const float hs = scale_of(ref, C);
          for (int i = 0; i < C; ++i) ASSERT_NEAR(ws.step_hidden(l, int(m))[i], ref[i], 1e-5f * hs) << "hidden " << l;
        }
      }
    }
  }
}

TEST(ModesAgree, CachedStepsEqualTheParallelPass) {
  Rng r(2024);
  for (int trial = 0; trial < 12; ++trial) {
    Model g(random_config(r));
    randomise(g, 100 + trial);
    check_modes_agree(g, r, trial);
  }
}

// bf16 weights: the steps stream the bf16 copy (matmul_rows_bf16), the parallel pass the
// rounded floats; both must still compute one function.
TEST(ModesAgree, CachedStepsWithBf16WeightsEqualTheParallelPass) {
  Rng r(77);
  for (int trial = 0; trial < 8; ++trial) {
    Model g(random_config(r));
    randomise(g, 300 + trial);
    g.use_bf16_weights();
    for (float p : g.params()) ASSERT_EQ(p, bf16_to_float(float_to_bf16(p)));
    check_modes_agree(g, r, trial);
  }
}

// bf16's own tolerance: rounding every weight to 8 mantissa bits (relative error <= 2^-9)
// moves the logits of a GPT-2-initialised model by well under 2% of their scale.
TEST(Bf16, LogitsStayWithinTheRoundingTolerance) {
  Config c{.vocab_size = 300, .n_positions = 32, .n_embd = 64, .n_layer = 3, .n_head = 4};
  Model g(c), h(c);
  init_params(c, g.mutable_params().data(), 5);
  h.mutable_params() = g.params();
  h.use_bf16_weights();
  std::vector<int> tokens(32);
  for (int t = 0; t < 32; ++t) tokens[t] = (t * 37) % 300;
  Workspace wg, wh;
  g.forward(wg, tokens.data(), 1, 32);
  h.forward(wh, tokens.data(), 1, 32);
  const float* lg = g.head_all(wg);
  const float* lh = h.head_all(wh);
  const size_t n = size_t(32) * 300;
  const float ls = scale_of(lg, n);
  float worst = 0, total = 0;
  for (size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(lg[i] - lh[i]));
    total += std::fabs(lg[i] - lh[i]);
  }
  EXPECT_LT(worst, 0.02f * ls);
  EXPECT_GT(total, 0.0f);  // the rounding did change the model
  std::vector<int> targets(tokens.begin() + 1, tokens.end());
  targets.push_back(0);
  std::vector<float> grads(h.params().size());
  EXPECT_THROW(h.forward_backward(wh, grads.data(), tokens.data(), targets.data(), 1, 32, 1.0f), Error);
}

TEST(ModesAgree, StepPastNPositionsIsAnError) {
  Config c{.vocab_size = 7, .n_positions = 4, .n_embd = 4, .n_layer = 1, .n_head = 1};
  Model g(c);
  randomise(g, 1);
  KvCache cache(c, 8);
  KvSeq s;
  Workspace ws;
  std::vector<int> p = {1, 2, 3, 4};
  g.prefill(ws, cache, s, p);
  std::vector<float> out(7);
  KvSeq* sp = &s;
  const int tok = 1;
  EXPECT_THROW(g.step(ws, cache, std::span<KvSeq* const>(&sp, 1), std::span<const int>(&tok, 1), out.data()), Error);
  std::vector<int> too_long(5, 1);
  EXPECT_THROW(g.forward(ws, too_long.data(), 1, 5), Error);
  std::vector<int> bad = {1, 7};
  EXPECT_THROW(g.forward(ws, bad.data(), 1, 2), Error);
}

// The fused head in chunks (forward_backward, loss) against the same head over all the logits
// at once: with V = 50000 the head runs in chunks of 335 positions, so 2×200 positions take two
// chunks, the second one short; untied and tied heads.
TEST(FusedHead, EqualsForwardThenBackward) {
  for (bool tied : {false, true}) {
    Config c{.vocab_size = 50000, .n_positions = 256, .n_embd = 16, .n_layer = 1, .n_head = 2};
    c.tie_word_embeddings = tied;
    Model g(c);
    randomise(g, 9);
    ASSERT_EQ(g.head_rows(), 335);
    const int B = 2, T = 200;
    std::vector<int> x(B * T), y(B * T);
    Rng r(4);
    for (int i = 0; i < B * T; ++i) x[i] = int(r.next() % 50000), y[i] = int(r.next() % 50000);
    Workspace wa, wb;
    std::vector<float> ga(g.params().size()), gb(g.params().size());
    g.forward(wa, x.data(), B, T);
    const float want = g.head_loss(wa, y.data(), ga.data(), 0.5f / (B * T), B * T);  // one chunk
    g.backward(wa, ga.data());
    const float got = g.forward_backward(wb, gb.data(), x.data(), y.data(), B, T, 0.5f / (B * T));
    EXPECT_NEAR(got, want, 1e-6f * want);
    EXPECT_NEAR(g.loss(wb, x.data(), y.data(), B, T), want, 1e-6f * want);
    float worst = 0, gmax = 0;
    for (size_t i = 0; i < ga.size(); ++i) {
      worst = std::max(worst, std::fabs(ga[i] - gb[i]));
      gmax = std::max(gmax, std::fabs(ga[i]));
    }
    ASSERT_GT(gmax, 0.0f);
    EXPECT_LT(worst, 1e-5f * gmax) << "tied " << tied << ", largest gradient " << gmax;
  }
}

TEST(Backward, WholeModelMatchesFiniteDifferences) {
  Config c{.vocab_size = 13, .n_positions = 8, .n_embd = 8, .n_layer = 2, .n_head = 2};
  c.tie_word_embeddings = true;
  Model g(c);
  randomise(g, 7);
  for (auto& p : g.mutable_params()) p *= 5;  // larger weights: gradients well above float noise
  const int B = 2, T = 6;
  std::vector<int> x(B * T), y(B * T);
  Rng r(3);
  for (int i = 0; i < B * T; ++i) {
    x[i] = int(r.next() % c.vocab_size);
    y[i] = int(r.next() % c.vocab_size);
  }
  Workspace ws;
  std::vector<float> grad(g.params().size());
  g.forward_backward(ws, grad.data(), x.data(), y.data(), B, T, 1.0f / (B * T));
  int checked = 0;
  for (const auto& t : g.table()) {
    for (size_t k = 0; k < 3; ++k) {
      const size_t i = t.offset + (k * 7919) % t.numel;
      float& p = g.mutable_params()[i];
      const float orig = p, h = 1e-2f;
      p = orig + h;
      const double lp = g.loss(ws, x.data(), y.data(), B, T);
      p = orig - h;
      const double lm = g.loss(ws, x.data(), y.data(), B, T);
      p = orig;
      const double num = (lp - lm) / (2 * h);
      EXPECT_NEAR(grad[i], num, 3e-3 + 3e-2 * std::fabs(num)) << t.name << " [" << i - t.offset << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

// ---- the Llama family: grouped-query (and multi-query, and NKV = NH) attention, explicit
// head_dim, biases, rope scalings, tied and untied heads.

Config random_llama_config(Rng& r) {
  Config c;
  c.arch = Arch::kLlama;
  c.model_type = "llama";
  c.n_kv_head = 1 + int(r.next() % 3);
  c.n_head = c.n_kv_head * (1 + int(r.next() % 3));
  c.head_dim = 2 * (1 + int(r.next() % 4));
  c.n_embd = 4 + 2 * int(r.next() % 8);  // not NH·HS in general: o_proj maps NH·HS to C
  c.intermediate_size = 3 + int(r.next() % 20);
  c.n_layer = 1 + int(r.next() % 3);
  c.vocab_size = 5 + int(r.next() % 60);
  c.n_positions = 8 + int(r.next() % 24);
  c.tie_word_embeddings = r.next() % 2;
  c.qkv_bias = r.next() % 2;
  c.o_bias = r.next() % 2;
  c.mlp_bias = r.next() % 2;
  c.layer_norm_epsilon = 1e-6;
  switch (r.next() % 3) {
    case 1:
      c.rope = {.theta = 500.0, .scaling = RopeScaling::kLinear, .factor = 2.0};
      break;
    case 2:
      c.rope = {.theta = 10000.0,
                .scaling = RopeScaling::kLlama3,
                .factor = 8.0,
                .low_freq_factor = 1.0,
                .high_freq_factor = 4.0,
                .original_max_positions = 16};
      break;
    default:
      break;
  }
  return c;
}

TEST(ModesAgree, LlamaCachedStepsEqualTheParallelPass) {
  Rng r(4242);
  for (int trial = 0; trial < 16; ++trial) {
    const Config c = random_llama_config(r);
    Model g(c);
    randomise(g, 500 + trial);
    SCOPED_TRACE("NH " + std::to_string(c.n_head) + " NKV " + std::to_string(c.kv_heads()) + " HS " +
                 std::to_string(c.head_size()));
    check_modes_agree(g, r, trial);
  }
}

TEST(ModesAgree, LlamaWithBf16WeightsEqualTheParallelPass) {
  Rng r(99);
  for (int trial = 0; trial < 6; ++trial) {
    Model g(random_llama_config(r));
    randomise(g, 700 + trial);
    g.use_bf16_weights();
    check_modes_agree(g, r, trial);
  }
}

// ---- Q8_0 weights

// Configs whose every matrix has rows of a multiple of 32 (Q8_0's block): C, NH·HS and I.
Config random_q8_config(Rng& r, bool llama) {
  Config c = llama ? random_llama_config(r) : random_config(r);
  c.n_embd = 32 * (1 + int(r.next() % 2));
  if (llama) {
    c.head_dim = 16;
    c.n_head = c.n_kv_head * 2;
    c.intermediate_size = 32 * (1 + int(r.next() % 2));
  } else {
    c.n_head = 1 << int(r.next() % 3);
  }
  return c;
}

// The steps stream the Q8_0 blocks (matmul_rows_q8_0), the parallel pass the dequantized
// floats: one function, up to fp32 summation order.
TEST(ModesAgree, CachedStepsWithQ8_0WeightsEqualTheParallelPass) {
  Rng r(88);
  for (int trial = 0; trial < 10; ++trial) {
    const bool llama = trial % 2;
    Model g(random_q8_config(r, llama));
    randomise(g, 900 + trial);
    const std::vector<float> before = g.params();
    g.use_q8_0_weights();
    ASSERT_TRUE(g.q8_0_weights());
    // 2-D tensors became d·q (at most half a step of their block's scale away); 1-D untouched.
    for (const auto& t : g.table()) {
      for (size_t i = 0; i < t.numel; i += kQ8Block) {
        float amax = 0, worst = 0;
        for (size_t k = i; k < std::min(t.numel, i + kQ8Block); ++k) {
          amax = std::max(amax, std::fabs(before[t.offset + k]));
          worst = std::max(worst, std::fabs(before[t.offset + k] - g.params()[t.offset + k]));
        }
        // Half a step of d, and d itself is rounded to fp16 after q was computed with the fp32
        // value: up to 127 · 2^-11 · d more.
        if (t.shape.size() == 2)
          ASSERT_LE(worst, amax / 127 * (0.5f + 127.0f / 2048) * 1.001f) << t.name;
        else
          ASSERT_EQ(worst, 0.0f) << t.name;
      }
    }
    SCOPED_TRACE(llama ? "llama" : "gpt2");
    check_modes_agree(g, r, trial);
  }
}

// Every product of a step streams the blocks, none falls back to the floats (Llama's step reads
// q|k|v and gate|up as one product over adjacent tensors): with the floats of every matrix but
// the embeddings zeroed behind the model's back, a step's logits do not change.
TEST(Q8_0, EveryStepProductStreamsTheBlocks) {
  Rng r(123);
  for (const bool llama : {false, true}) {
    Model g(random_q8_config(r, llama));
    randomise(g, 42);
    g.use_q8_0_weights();
    const Config& c = g.config();
    auto logits = [&] {
      Workspace ws;
      KvCache cache(c, 4);
      KvSeq seq;
      KvSeq* seqs[] = {&seq};
      std::vector<float> out(c.vocab_size);
      for (int tok : {1, 2, 3}) g.step(ws, cache, seqs, std::vector<int>{tok % c.vocab_size}, out.data());
      return out;
    };
    const std::vector<float> before = logits();
    for (const auto& t : g.table())
      if (t.shape.size() == 2 && t.name.find("wte") == std::string::npos && t.name.find("wpe") == std::string::npos &&
          t.name.find("embed_tokens") == std::string::npos)
        std::fill_n(g.mutable_params().data() + t.offset, t.numel, 0.0f);
    EXPECT_EQ(logits(), before) << (llama ? "llama" : "gpt2");
  }
}

TEST(Q8_0, RowsNotAMultipleOf32AreAnErrorNamingTheTensor) {
  Config c{.vocab_size = 11, .n_positions = 8, .n_embd = 48, .n_layer = 1, .n_head = 2};
  Model g(c);
  try {
    g.use_q8_0_weights();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows of 48"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(g.q8_0_weights());
}

// Q8_0's tolerance against fp32. Each weight moves by at most d/2 (d = max|block|/127, plus
// fp16's rounding of d), uniformly and independently: an error of rms ≈ max|block|/440, about
// 0.5% of a Gaussian block's rms. Every product then carries ~0.5% relative noise and the
// network adds those of its ~4L+1 products, so the logits move by a few percent of their
// spread: the test holds the rms of the change to 4% of the rms of the centred logits
// (measured: GPT-2 1.4%, Llama 2.5%) and the worst to 10% of the logit scale. Greedy choices:
// equal wherever fp32's top-2 gap exceeds 4× that rms change (a near-tie below it may go
// either way), and at >= 85% of all positions (measured: 59/64 and 64/64).
TEST(Q8_0, LogitsAndGreedyTokensStayWithinTheQuantizationTolerance) {
  for (const bool llama : {false, true}) {
    SCOPED_TRACE(llama ? "llama" : "gpt2");
    Config c{.vocab_size = 300, .n_positions = 64, .n_embd = 64, .n_layer = 3, .n_head = 4};
    if (llama) {
      c.arch = Arch::kLlama;
      c.model_type = "llama";
      c.n_kv_head = 2;
      c.head_dim = 16;
      c.intermediate_size = 160;
      c.tie_word_embeddings = false;
    }
    Model g(c), h(c);
    init_params(c, g.mutable_params().data(), 5);
    Rng r(6);  // weights with structure beyond init's, so the argmax is decided
    for (auto& p : g.mutable_params()) p += 0.1f * r.normal();
    h.mutable_params() = g.params();
    h.use_q8_0_weights();
    const int T = 64, V = c.vocab_size;
    std::vector<int> tokens(T);
    for (int t = 0; t < T; ++t) tokens[t] = (t * 37 + 11) % V;
    Workspace wg, wh;
    g.forward(wg, tokens.data(), 1, T);
    h.forward(wh, tokens.data(), 1, T);
    const float* lg = g.head_all(wg);
    const float* lh = h.head_all(wh);
    double err2 = 0, spread2 = 0;
    float worst = 0;
    for (int t = 0; t < T; ++t) {
      double mean = 0;
      for (int v = 0; v < V; ++v) mean += lg[size_t(t) * V + v] / V;
      for (int v = 0; v < V; ++v) {
        const size_t i = size_t(t) * V + v;
        err2 += double(lg[i] - lh[i]) * (lg[i] - lh[i]);
        spread2 += (lg[i] - mean) * (lg[i] - mean);
        worst = std::max(worst, std::fabs(lg[i] - lh[i]));
      }
    }
    const double rms_err = std::sqrt(err2 / (T * V)), rel = std::sqrt(err2 / spread2);
    EXPECT_LT(rel, 0.04) << "rms change / rms of the centred logits";
    EXPECT_LT(worst, 0.10f * scale_of(lg, size_t(T) * V));
    EXPECT_GT(worst, 0.0f);  // the quantization did change the model
    int same = 0;
    for (int t = 0; t < T; ++t) {
      const float* a = lg + size_t(t) * V;
      const float* b = lh + size_t(t) * V;
      const int ia = int(std::max_element(a, a + V) - a), ib = int(std::max_element(b, b + V) - b);
      float second = -1e30f;
      for (int v = 0; v < V; ++v)
        if (v != ia) second = std::max(second, a[v]);
      same += ia == ib;
      if (a[ia] - second > 4 * rms_err) {
        EXPECT_EQ(ia, ib) << "position " << t << ", fp32 gap " << a[ia] - second;
      }
    }
    EXPECT_GE(same, T * 85 / 100);
    std::printf("[ q8_0 %s: rms logit change %.2f%% of the spread, worst %.3g, greedy equal at %d/%d ]\n",
                llama ? "llama" : "gpt2", 100 * rel, worst, same, T);
    std::vector<int> targets(tokens.begin() + 1, tokens.end());
    targets.push_back(0);
    std::vector<float> grads(h.params().size());
    EXPECT_THROW(h.forward_backward(wh, grads.data(), tokens.data(), targets.data(), 1, T, 1.0f), Error);
    h.drop_weight_copies();  // fine-tuning from a Q8_0 file: trains on the dequantized floats
    EXPECT_NO_THROW(h.forward_backward(wh, grads.data(), tokens.data(), targets.data(), 1, T, 1.0f));
  }
}

TEST(Params, LlamaViewsMatchTheTable) {
  Config c = random_llama_config(*std::make_unique<Rng>(5));
  c.qkv_bias = c.o_bias = c.mlp_bias = true;
  c.tie_word_embeddings = false;
  Model g(c);
  const float* base = g.params().data();
  std::map<std::string, const float*> at;
  for (const auto& t : g.table()) at[t.name] = base + t.offset;
  EXPECT_EQ(at["model.embed_tokens.weight"], g.weights().wte);
  EXPECT_EQ(at["model.norm.weight"], g.weights().lnfw);
  EXPECT_EQ(at["lm_head.weight"], g.weights().lm_head);
  EXPECT_EQ(g.weights().wpe, nullptr);
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    const LayerParams v = g.layer(l);
    EXPECT_EQ(at[h + "input_layernorm.weight"], v.ln1w);
    EXPECT_EQ(at[h + "self_attn.q_proj.weight"], v.qkvw);
    // k and v follow q in the buffer: one (QKV, C) matrix.
    EXPECT_EQ(at[h + "self_attn.k_proj.weight"], v.qkvw + size_t(c.q_dim()) * c.n_embd);
    EXPECT_EQ(at[h + "self_attn.v_proj.weight"], v.qkvw + size_t(c.q_dim() + c.kv_dim()) * c.n_embd);
    EXPECT_EQ(at[h + "self_attn.q_proj.bias"], v.qkvb);
    EXPECT_EQ(at[h + "self_attn.v_proj.bias"], v.qkvb + c.q_dim() + c.kv_dim());
    EXPECT_EQ(at[h + "self_attn.o_proj.weight"], v.attprojw);
    EXPECT_EQ(at[h + "self_attn.o_proj.bias"], v.attprojb);
    EXPECT_EQ(at[h + "post_attention_layernorm.weight"], v.ln2w);
    EXPECT_EQ(at[h + "mlp.gate_proj.weight"], v.fcw);
    EXPECT_EQ(at[h + "mlp.up_proj.weight"], v.fcw + size_t(c.intermediate_size) * c.n_embd);
    EXPECT_EQ(at[h + "mlp.up_proj.bias"], v.fcb + c.intermediate_size);
    EXPECT_EQ(at[h + "mlp.down_proj.weight"], v.fcprojw);
    EXPECT_EQ(at[h + "mlp.down_proj.bias"], v.fcprojb);
  }
  EXPECT_EQ(param_count(g.table()), g.params().size());
  for (const auto& t : g.table()) EXPECT_EQ(t.decay, t.shape.size() == 2) << t.name;
}

TEST(KvCache, GroupedQueryRowsHoldOnlyTheKvHeads) {
  Config c = preset_config("smollm2-135m");
  EXPECT_EQ(kv_cache_row_bytes(c), 2u * 30 * 3 * 64 * 4);  // a third of 2·L·C floats
  Config mha = c;
  mha.n_kv_head = 9;
  EXPECT_EQ(3 * kv_cache_row_bytes(c), kv_cache_row_bytes(mha));
}

TEST(Backward, LlamaWholeModelMatchesFiniteDifferences) {
  for (int variant = 0; variant < 2; ++variant) {
    Config c;
    c.arch = Arch::kLlama;
    c.model_type = "llama";
    c.vocab_size = 13;
    c.n_positions = 8;
    c.n_embd = 8;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = variant == 0 ? 2 : 1;
    c.head_dim = variant == 0 ? 2 : 4;
    c.intermediate_size = 6;
    c.tie_word_embeddings = variant == 0;
    c.qkv_bias = c.o_bias = c.mlp_bias = variant == 1;
    c.rope = {.theta = 100.0,
              .scaling = RopeScaling::kLlama3,
              .factor = 4.0,
              .low_freq_factor = 1.0,
              .high_freq_factor = 2.0,
              .original_max_positions = 8};
    Model g(c);
    randomise(g, 17 + variant);
    for (auto& p : g.mutable_params()) p *= 4;
    const int B = 2, T = 6;
    std::vector<int> x(B * T), y(B * T);
    Rng r(3);
    for (int i = 0; i < B * T; ++i) {
      x[i] = int(r.next() % c.vocab_size);
      y[i] = int(r.next() % c.vocab_size);
    }
    Workspace ws;
    std::vector<float> grad(g.params().size());
    g.forward_backward(ws, grad.data(), x.data(), y.data(), B, T, 1.0f / (B * T));
    for (const auto& t : g.table())
      for (size_t k = 0; k < 3; ++k) {
        const size_t i = t.offset + (k * 7919) % t.numel;
        float& p = g.mutable_params()[i];
        const float orig = p, h = 2e-3f;  // RMSNorm of small rows curves fast: 1e-2 is too coarse
        p = orig + h;
        const double lp = g.loss(ws, x.data(), y.data(), B, T);
        p = orig - h;
        const double lm = g.loss(ws, x.data(), y.data(), B, T);
        p = orig;
        const double num = (lp - lm) / (2 * h);
        EXPECT_NEAR(grad[i], num, 3e-3 + 3e-2 * std::fabs(num)) << t.name << " [" << i - t.offset << "]";
      }
  }
}

// The server batches the live sequences of many requests into one step and promises each
// request the result it gets alone: a row's logits must not depend on which rows share its
// step. Bit for bit (memcmp), since a last-bit difference flips a greedy token on a near-tie:
// M sequences stepped together against each stepped alone, for M from 1 past the row kernel's
// blocks of 8, GPT-2 and Llama, fp32, bf16 and Q8_0 weights, over two steps (the second reads the
// rows the first wrote).
void check_rows_independent_of_m(const Model& g, Rng& r) {
  const Config& c = g.config();
  const int V = c.vocab_size;
  for (int M : {1, 2, 5, 9, 17}) {
    KvCache together(c, M * c.n_positions), alone(c, M * c.n_positions);
    std::vector<KvSeq> a(M), b(M);
    Workspace ws;
    for (int m = 0; m < M; ++m) {
      std::vector<int> prompt(1 + r.next() % (c.n_positions - 2));
      for (auto& t : prompt) t = int(r.next() % V);
      g.prefill(ws, together, a[m], prompt);
      g.prefill(ws, alone, b[m], prompt);
    }
    for (int step = 0; step < 2; ++step) {
      std::vector<int> toks(M);
      for (auto& t : toks) t = int(r.next() % V);
      std::vector<KvSeq*> pa;
      for (auto& s : a) pa.push_back(&s);
      std::vector<float> batched(size_t(M) * V), one(V);
      g.step(ws, together, pa, toks, batched.data());
      for (int m = 0; m < M; ++m) {
        KvSeq* pb = &b[m];
        g.step(ws, alone, std::span<KvSeq* const>(&pb, 1), std::span<const int>(&toks[m], 1), one.data());
        ASSERT_EQ(0, std::memcmp(one.data(), batched.data() + size_t(m) * V, sizeof(float) * V))
            << "M " << M << " row " << m << " step " << step;
      }
    }
  }
}

TEST(StepRows, LogitsOfARowDoNotDependOnTheBatch) {
  Rng r(31337);
  for (int trial = 0; trial < 6; ++trial) {
    Model g(trial % 2 ? random_llama_config(r) : random_config(r));
    randomise(g, 900 + trial);
    if (trial >= 4) g.use_bf16_weights();
    SCOPED_TRACE("trial " + std::to_string(trial));
    check_rows_independent_of_m(g, r);
  }
  // Widths that are not multiples of the kernels' vectors (C = 36, 4C = 144, V = 1001), and
  // wide enough (C = 256) that a GEMM library would block its sums differently for 1 row and
  // for 9 (oneDNN's sgemm does: this test fails when the step sends those to it).
  for (const Config& c : {Config{.vocab_size = 1001, .n_positions = 24, .n_embd = 36, .n_layer = 2, .n_head = 3},
                          Config{.vocab_size = 515, .n_positions = 10, .n_embd = 256, .n_layer = 1, .n_head = 4}}) {
    Model g(c);
    randomise(g, 42);
    check_rows_independent_of_m(g, r);
  }
  // Q8_0 weights: every matrix's rows a multiple of the 32-value block (the random configs'
  // are not), a GPT-2 and a Llama with GQA whose MLP width is past the AVX-512 kernel's blocks.
  Config llama{.vocab_size = 301, .n_positions = 20, .n_embd = 64, .n_layer = 2, .n_head = 4};
  llama.arch = Arch::kLlama;
  llama.model_type = "llama";
  llama.n_kv_head = 2;
  llama.head_dim = 16;
  llama.intermediate_size = 160;
  llama.layer_norm_epsilon = 1e-6;
  for (const Config& c :
       {Config{.vocab_size = 257, .n_positions = 20, .n_embd = 96, .n_layer = 2, .n_head = 3}, llama}) {
    Model g(c);
    randomise(g, 7);
    g.use_q8_0_weights();
    SCOPED_TRACE("q8_0 " + c.model_type);
    check_rows_independent_of_m(g, r);
  }
}

}  // namespace
}  // namespace tf
