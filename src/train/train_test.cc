#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "model/model.h"
#include "train/data.h"
#include "train/memory.h"
#include "train/optimizer.h"
#include "train/options.h"

namespace tf {
namespace {

TEST(Schedule, WarmupThenCosineAsDocumented) {
  const double lr = 1e-3, mn = 1e-4;
  EXPECT_DOUBLE_EQ(lr_at(0, lr, mn, 10, 110, Schedule::kCosine), lr * 1 / 10);
  EXPECT_DOUBLE_EQ(lr_at(9, lr, mn, 10, 110, Schedule::kCosine), lr);
  EXPECT_DOUBLE_EQ(lr_at(10, lr, mn, 10, 110, Schedule::kCosine), lr);
  EXPECT_NEAR(lr_at(60, lr, mn, 10, 110, Schedule::kCosine), mn + 0.5 * (lr - mn), 1e-15);
  EXPECT_NEAR(lr_at(35, lr, mn, 10, 110, Schedule::kCosine), mn + 0.5 * (lr - mn) * (1 + std::cos(M_PI * 25 / 100)),
              1e-15);
  EXPECT_DOUBLE_EQ(lr_at(50, lr, mn, 10, 110, Schedule::kConstant), lr);
}

TEST(Batcher, SequentialOrderIsTheDocumentedFormula) {
  std::vector<int> tok(1000);
  for (int i = 0; i < 1000; ++i) tok[i] = i;
  const int T = 16, B = 3, accum = 2;
  Batcher b(tok, 0.1, T, DataOrder::kSequential, 0);
  EXPECT_EQ(b.n_train(), 900);
  std::vector<int> x(B * T), y(B * T);
  for (long s : {0L, 5L, 77L})
    for (int m = 0; m < accum; ++m) {
      b.fill((s * accum + m) * B, B, x.data(), y.data());
      for (int r = 0; r < B; ++r) {
        const long o = (((s * accum + m) * B + r) * T) % (900 - T);
        EXPECT_EQ(x[r * T], o);
        EXPECT_EQ(y[r * T + T - 1], o + T);
      }
    }
}

TEST(Batcher, ShuffleVisitsEveryWindowOncePerEpoch) {
  std::vector<int> tok(161);
  Batcher b(tok, 0.0, 16, DataOrder::kShuffle, 42);
  const long W = 160 / 16;
  for (long e = 0; e < 3; ++e) {
    std::set<long> seen;
    for (long g = e * W; g < (e + 1) * W; ++g) seen.insert(b.row_start(g));
    EXPECT_EQ(long(seen.size()), W);
    EXPECT_LE(*seen.rbegin() + 16, 160);
  }
}

TEST(Batcher, TooShortCorpusIsAnError) {
  std::vector<int> tok(10);
  EXPECT_THROW(Batcher(tok, 0.0, 16, DataOrder::kSequential, 0), Error);
}

TEST(Clip, NormAndScaling) {
  Rng r(1);
  std::vector<float> g(200000);
  double ss = 0;
  for (auto& x : g) {
    x = r.normal();
    ss += double(x) * x;
  }
  EXPECT_NEAR(global_norm(g.data(), g.size()), std::sqrt(ss), 1e-6 * std::sqrt(ss));
  const double before = clip_grad_norm(g.data(), g.size(), 1.0);
  EXPECT_NEAR(before, std::sqrt(ss), 1e-6 * before);
  EXPECT_NEAR(global_norm(g.data(), g.size()), 1.0, 1e-5);
  EXPECT_NEAR(clip_grad_norm(g.data(), g.size(), 5.0), 1.0, 1e-5);  // under the bound: unchanged
  EXPECT_NEAR(global_norm(g.data(), g.size()), 1.0, 1e-5);
}

TEST(Optimizer, DecaysOnlyMatricesAndEmbeddingsAndSkipsFrozen) {
  Config c{.vocab_size = 5, .n_positions = 4, .n_embd = 4, .n_layer = 1, .n_head = 1};
  const auto table = param_table(c);
  std::vector<float> p(param_count(table), 1.0f), g(p.size(), 0.0f);
  Optimizer opt(table, {.kind = OptimizerKind::kAdamW, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.5});
  opt.frozen = {"wpe.weight"};
  opt.step(p.data(), g.data(), 0.1);
  for (const auto& t : table) {
    const float want = t.name == "wpe.weight" ? 1.0f : t.decay ? 0.95f : 1.0f;
    EXPECT_FLOAT_EQ(p[t.offset], want) << t.name;
  }
}

// The estimate that refuses oversize runs counts what a training step really allocates.
TEST(TrainMemory, MatchesTheWorkspaceOfAStep) {
  Config c{.vocab_size = 37, .n_positions = 16, .n_embd = 12, .n_layer = 2, .n_head = 3};
  Model m(c);
  init_params(c, m.mutable_params().data(), 1);
  const int B = 3, T = 7;
  std::vector<int> tok(B * T), tgt(B * T);
  for (int i = 0; i < B * T; ++i) tok[i] = tgt[i] = i % c.vocab_size;
  std::vector<float> grads(m.params().size(), 0.0f);
  Workspace ws;
  m.forward_backward(ws, grads.data(), tok.data(), tgt.data(), B, T, 1.0f);
  const auto& a = ws.acts;
  const auto& g = ws.grad;
  double floats = 0;
  for (const auto* v :
       {&a.resid,    &a.ln1,      &a.ln1_mean, &a.ln1_rstd, &a.qkv,  &a.att,      &a.atty,      &a.resid_mid, &a.ln2,
        &a.ln2_mean, &a.ln2_rstd, &a.fch,      &a.fch_gelu, &a.lnf,  &a.lnf_mean, &a.lnf_rstd,  &a.losses,    &a.lse,
        &g.dresid,   &g.dln,      &g.datty,    &g.dqkv,     &g.datt, &g.dfch,     &g.dfch_gelu, &g.dlnf})
    floats += double(v->size());
  const TrainMemory est = estimate_train_memory(c, B, T, OptimizerKind::kAdamW, 0);
  EXPECT_DOUBLE_EQ(est.activations + est.grad_scratch, 4 * (floats + double(a.tokens.size())));
  EXPECT_DOUBLE_EQ(est.logits, 4.0 * double(a.logits.size()));
  EXPECT_DOUBLE_EQ(est.weights, 4.0 * double(m.params().size()));
  EXPECT_DOUBLE_EQ(est.moments, 2 * est.weights);
}

TEST(TrainOptions, NamesRoundTripThroughJson) {
  TrainOptions o;
  o.lr_schedule = Schedule::kConstant;
  o.optimizer = OptimizerKind::kSgd;
  o.data_order = DataOrder::kShuffle;
  const nlohmann::json j = options_to_json(o);
  EXPECT_EQ(j["lr_schedule"], "constant");
  EXPECT_EQ(j["optimizer"], "sgd");
  EXPECT_EQ(j["data_order"], "shuffle");
  const TrainOptions back = options_from_json(j);
  EXPECT_EQ(back.lr_schedule, Schedule::kConstant);
  EXPECT_EQ(back.optimizer, OptimizerKind::kSgd);
  EXPECT_EQ(back.data_order, DataOrder::kShuffle);
  nlohmann::json bad = j;
  bad["optimizer"] = "adam";
  EXPECT_THROW(options_from_json(bad), Error);
}

TEST(TrainOptions, ResumeAcceptsEqualFlagsAndNamesADifferentOne) {
  TrainOptions saved;
  saved.data = "/data/a.txt";
  saved.batch = 8;
  saved.lr = 3e-3;
  TrainOptions cli = saved;
  cli.steps = 5000;
  const TrainOptions o = resume_options(saved, cli, {"batch", "lr", "steps", "data"});
  EXPECT_EQ(o.steps, 5000);
  cli.lr = 1e-3;
  try {
    resume_options(saved, cli, {"lr"});
    FAIL() << "a different --lr was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--lr 0.001 differs from the run's 0.003"), std::string::npos) << e.what();
  }
  cli.lr = saved.lr;
  cli.data = "/elsewhere/a.txt";  // moved: accepted here, the fingerprint decides
  EXPECT_EQ(resume_options(saved, cli, {"data"}).data, "/elsewhere/a.txt");
}

}  // namespace
}  // namespace tf
