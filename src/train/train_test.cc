#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "train/data.h"
#include "train/optimizer.h"

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
  Optimizer opt(table, {.kind = "adamw", .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.5});
  opt.frozen = {"wpe.weight"};
  opt.step(p.data(), g.data(), 0.1);
  for (const auto& t : table) {
    const float want = t.name == "wpe.weight" ? 1.0f : t.decay ? 0.95f : 1.0f;
    EXPECT_FLOAT_EQ(p[t.offset], want) << t.name;
  }
}

}  // namespace
}  // namespace tf
