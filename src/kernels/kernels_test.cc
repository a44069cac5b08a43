// Every fast kernel against its naive twin, and every backward against finite differences.
#include "kernels/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/rng.h"

namespace tf {
namespace {

std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.normal() * scale;
  return v;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Gemm, MatchesNaiveTwinOnOddShapesAndStrides) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (auto [M, N, K] : std::vector<std::tuple<int, int, int>>{{1, 1, 1}, {1, 77, 33}, {5, 3, 129}, {67, 45, 13}}) {
        const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
        auto A = randn(size_t(ta ? K : M) * lda, 1), B = randn(size_t(tb ? N : K) * ldb, 2);
        auto C1 = randn(size_t(M) * ldc, 3), C2 = C1;
        gemm(ta, tb, M, N, K, 0.7f, A.data(), lda, B.data(), ldb, 1.0f, C1.data(), ldc);
        gemm_naive(ta, tb, M, N, K, 0.7f, A.data(), lda, B.data(), ldb, 1.0f, C2.data(), ldc);
        EXPECT_LT(max_abs_diff(C1, C2), 1e-4f * std::sqrt(float(K))) << ta << tb << " " << M << "x" << N << "x" << K;
      }
}

// Every instruction set this CPU runs (AVX-512, AVX2, scalar) against the naive twin: 1..19
// rows (the 8-row kernels and the blocks of 8 beyond), C with and without a tail of the 8- and
// 16-lane loops, OC not a multiple of any row block (3, 4, 6, 8 rows per task).
TEST(MatmulRows, MatchesNaiveTwinForEveryRowCountOnEveryInstructionSet) {
  for (int isa = 0; isa <= int(cpu_rows_isa()); ++isa)
    for (int M = 1; M <= 19; ++M)
      for (auto [C, OC] : std::vector<std::pair<int, int>>{{8, 1}, {13, 7}, {64, 50}, {129, 13}, {40, 29}})
        for (int with_bias = 0; with_bias < 2; ++with_bias) {
          auto x = randn(size_t(M) * C, 11), w = randn(size_t(OC) * C, 12), b = randn(OC, 13);
          std::vector<float> got(size_t(M) * OC, 99.0f), want(size_t(M) * OC);
          for (int i = 0; i < M; ++i)
            for (int o = 0; o < OC; ++o) want[size_t(i) * OC + o] = with_bias ? b[o] : 0.0f;
          matmul_rows_isa(RowIsa(isa), got.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, M, C, OC);
          gemm_naive(false, true, M, OC, C, 1.0f, x.data(), C, w.data(), C, 1.0f, want.data(), OC);
          EXPECT_LT(max_abs_diff(got, want), 1e-4f * std::sqrt(float(C)))
              << row_isa_name(RowIsa(isa)) << " " << M << " rows, C " << C << ", OC " << OC;
        }
}

TEST(MatmulRows, Bf16WeightsMatchTheNaiveTwinOnTheRoundedFloatsOnEveryInstructionSet) {
  for (int isa = 0; isa <= int(cpu_rows_isa()); ++isa)
    for (int M = 1; M <= 9; ++M)
      for (auto [C, OC] : std::vector<std::pair<int, int>>{{8, 3}, {29, 7}, {96, 40}, {48, 17}}) {
        auto x = randn(size_t(M) * C, 21), w = randn(size_t(OC) * C, 22), b = randn(OC, 23);
        std::vector<uint16_t> wh(w.size());
        for (size_t i = 0; i < w.size(); ++i) w[i] = bf16_to_float(wh[i] = float_to_bf16(w[i]));
        std::vector<float> got(size_t(M) * OC), want(size_t(M) * OC);
        for (int i = 0; i < M; ++i) std::copy(b.begin(), b.end(), want.begin() + size_t(i) * OC);
        matmul_rows_bf16_isa(RowIsa(isa), got.data(), x.data(), wh.data(), b.data(), M, C, OC);
        gemm_naive(false, true, M, OC, C, 1.0f, x.data(), C, w.data(), C, 1.0f, want.data(), OC);
        EXPECT_LT(max_abs_diff(got, want), 1e-4f * std::sqrt(float(C)))
            << row_isa_name(RowIsa(isa)) << " " << M << " rows, C " << C;
      }
}

// The server batches sequences into one step: a row's result must not depend on how many rows
// it is batched with, bit for bit, on every instruction set, fp32 and bf16 weights alike.
TEST(MatmulRows, ARowsResultDoesNotDependOnM) {
  const int C = 83, OC = 53, Mmax = 19;  // C: a tail after the 16- and 8-lane loops
  const auto x = randn(size_t(Mmax) * C, 61), w = randn(size_t(OC) * C, 62), b = randn(OC, 63);
  std::vector<uint16_t> wh(w.size());
  for (size_t i = 0; i < w.size(); ++i) wh[i] = float_to_bf16(w[i]);
  for (int isa = 0; isa <= int(cpu_rows_isa()); ++isa)
    for (int bf16 = 0; bf16 < 2; ++bf16) {
      const auto run = [&](float* out, const float* xs, int M) {
        if (bf16)
          matmul_rows_bf16_isa(RowIsa(isa), out, xs, wh.data(), b.data(), M, C, OC);
        else
          matmul_rows_isa(RowIsa(isa), out, xs, w.data(), b.data(), M, C, OC);
      };
      std::vector<float> alone(size_t(Mmax) * OC);
      for (int m = 0; m < Mmax; ++m) run(alone.data() + size_t(m) * OC, x.data() + size_t(m) * C, 1);
      for (int M = 2; M <= Mmax; ++M) {
        std::vector<float> batch(size_t(M) * OC);
        run(batch.data(), x.data(), M);
        for (size_t i = 0; i < batch.size(); ++i)
          ASSERT_EQ(batch[i], alone[i]) << row_isa_name(RowIsa(isa)) << (bf16 ? " bf16" : " fp32") << " M " << M
                                        << " row " << i / OC;
      }
    }
}

// ---- Q8_0

// ggml's quantize_row_q8_0_ref: d = max|x| / 127 (fp16 on store), q = roundf(x / d) with halves
// away from zero, where rint would round them to even.
TEST(Q8_0, QuantizesAsGgmlsReference) {
  std::vector<float> x(64);
  for (int i = 0; i < 32; ++i) x[i] = float(i) - 15.5f;  // halves: ±0.5 .. ±15.5, max |x| 16.5
  x[31] = 127.0f;                                        // d = 1 exactly, id = 1
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;             // an all-zero block
  std::vector<BlockQ8_0> q(2);
  quantize_row_q8_0(q.data(), x.data(), 64);
  EXPECT_EQ(half_to_float(q[0].d), 1.0f);
  for (int i = 0; i < 31; ++i) {
    const float h = float(i) - 15.5f;
    EXPECT_EQ(q[0].qs[i], int(h < 0 ? -std::floor(-h + 0.5f) : std::floor(h + 0.5f))) << h;
  }
  EXPECT_EQ(q[0].qs[31], 127);
  EXPECT_EQ(q[0].qs[16], 1);   // 0.5 -> 1, not 0
  EXPECT_EQ(q[0].qs[15], -1);  // -0.5 -> -1
  EXPECT_EQ(q[0].qs[18], 3);   // 2.5 -> 3, not 2
  EXPECT_EQ(q[1].d, 0);
  for (int8_t v : q[1].qs) EXPECT_EQ(v, 0);
  // A generic block: the max element is ±127 and every value is within d/2 of d·q.
  const auto y = randn(32, 5, 0.02f);
  quantize_row_q8_0(q.data(), y.data(), 32);
  std::vector<float> back(32);
  dequantize_row_q8_0(back.data(), q.data(), 32);
  float amax = 0;
  for (float v : y) amax = std::max(amax, std::fabs(v));
  const float d = half_to_float(q[0].d);
  EXPECT_NEAR(d, amax / 127, amax / 127 * 1e-3f);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(back[i], d * float(q[0].qs[i]));
    EXPECT_LE(std::fabs(back[i] - y[i]), 0.5f * d * 1.01f);
  }
}

std::vector<BlockQ8_0> q8_weights(int OC, int C, uint64_t seed) {
  const auto w = randn(size_t(OC) * C, seed, 0.05f);
  std::vector<BlockQ8_0> q(w.size() / kQ8Block);
  quantize_row_q8_0(q.data(), w.data(), w.size());
  return q;
}

// Every instruction set this CPU runs (AVX-512, AVX2, scalar) against the naive twin: 1..19
// rows (the 8-row kernels and blocks of 8 beyond), OC not a multiple of any row block.
TEST(MatmulRowsQ8_0, MatchesTheNaiveTwinOnEveryInstructionSet) {
  for (int isa = 0; isa <= int(cpu_q8_0_isa()); ++isa)
    for (int M = 1; M <= 19; ++M)
      for (auto [C, OC] : std::vector<std::pair<int, int>>{{32, 1}, {96, 7}, {160, 50}})
        for (int with_bias = 0; with_bias < 2; ++with_bias) {
          const auto x = randn(size_t(M) * C, 31), b = randn(OC, 33);
          const auto w = q8_weights(OC, C, 32);
          std::vector<float> got(size_t(M) * OC, 99.0f), want(size_t(M) * OC);
          const float* bias = with_bias ? b.data() : nullptr;
          matmul_rows_q8_0_isa(Q8Isa(isa), got.data(), x.data(), w.data(), bias, M, C, OC);
          matmul_rows_q8_0_naive(want.data(), x.data(), w.data(), bias, M, C, OC);
          EXPECT_LT(max_abs_diff(got, want), 1e-5f * std::sqrt(float(C)))
              << q8_0_isa_name(Q8Isa(isa)) << " " << M << " rows, C " << C << ", OC " << OC;
        }
}

// The server batches sequences into one step: a row's result must not depend on how many rows
// it is batched with, bit for bit (each row sums in the same order whatever M is).
TEST(MatmulRowsQ8_0, ARowsResultDoesNotDependOnM) {
  const int C = 128, OC = 37, Mmax = 19;
  const auto x = randn(size_t(Mmax) * C, 41), b = randn(OC, 43);
  const auto w = q8_weights(OC, C, 42);
  for (int isa = 0; isa <= int(cpu_q8_0_isa()); ++isa) {
    std::vector<float> alone(size_t(Mmax) * OC);
    for (int m = 0; m < Mmax; ++m)
      matmul_rows_q8_0_isa(Q8Isa(isa), alone.data() + size_t(m) * OC, x.data() + size_t(m) * C, w.data(), b.data(), 1,
                           C, OC);
    for (int M = 2; M <= Mmax; ++M) {
      std::vector<float> batch(size_t(M) * OC);
      matmul_rows_q8_0_isa(Q8Isa(isa), batch.data(), x.data(), w.data(), b.data(), M, C, OC);
      for (size_t i = 0; i < batch.size(); ++i)
        ASSERT_EQ(batch[i], alone[i]) << q8_0_isa_name(Q8Isa(isa)) << " M " << M << " row " << i / OC;
    }
  }
}

// The kernel computes x · (the dequantized weights): against the fp32 row kernel on d·q.
TEST(MatmulRowsQ8_0, EqualsTheFloatKernelOnTheDequantizedWeights) {
  const int M = 3, C = 64, OC = 21;
  const auto x = randn(size_t(M) * C, 51);
  const auto w = q8_weights(OC, C, 52);
  std::vector<float> wf(size_t(OC) * C), got(size_t(M) * OC), want(size_t(M) * OC);
  dequantize_row_q8_0(wf.data(), w.data(), wf.size());
  matmul_rows_q8_0(got.data(), x.data(), w.data(), nullptr, M, C, OC);
  matmul_rows(want.data(), x.data(), wf.data(), nullptr, M, C, OC);
  EXPECT_LT(max_abs_diff(got, want), 1e-5f * std::sqrt(float(C)));
}

TEST(Bf16, RoundsToNearestEvenLikeTorch) {
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa (1) wins; 1 + 3·2^-8 rounds up to
  // the even 1 + 2^-6; just above a tie rounds away; NaN stays NaN; the largest finite float
  // rounds to infinity as torch does.
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 0x1p-8f)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(-2.5f)), -2.5f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  EXPECT_TRUE(std::isinf(bf16_to_float(float_to_bf16(3.4028235e38f))));
}

TEST(Attention, DecodeMatchesNaiveLoopsOverScatteredRows) {
  // Keys and values at scattered pool rows (as beams share a cache), one head of a wider row.
  const int HS = 24, T = 37, stride = 3 * HS, pool = 64;
  auto q = randn(HS, 14), k = randn(size_t(pool) * stride, 15), v = randn(size_t(pool) * stride, 16);
  std::vector<int> rows(T);
  for (int t = 0; t < T; ++t) rows[t] = (t * 29 + 5) % pool;
  std::vector<float> y(HS), scores(T);
  attention_decode(y.data(), scores.data(), q.data(), k.data() + HS, v.data() + HS, rows.data(), T, stride, HS);
  std::vector<double> s(T), want(HS, 0.0);
  double mx = -1e30, sum = 0;
  for (int t = 0; t < T; ++t) {
    double d = 0;
    for (int i = 0; i < HS; ++i) d += double(q[i]) * k[size_t(rows[t]) * stride + HS + i];
    mx = std::max(mx, s[t] = d / std::sqrt(double(HS)));
  }
  for (auto& e : s) sum += (e = std::exp(e - mx));
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < HS; ++i) want[i] += s[t] / sum * v[size_t(rows[t]) * stride + HS + i];
  for (int i = 0; i < HS; ++i) EXPECT_NEAR(y[i], want[i], 1e-5) << i;
}

TEST(Attention, ForwardMatchesNaiveLoops) {
  const int B = 2, T = 7, C = 12, NH = 3, HS = C / NH;
  auto qkv = randn(size_t(B) * T * 3 * C, 4);
  std::vector<float> out(B * T * C), att(B * NH * T * T);
  attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        std::vector<double> s(t + 1);
        double mx = -1e30, sum = 0;
        for (int u = 0; u <= t; ++u) {
          double d = 0;
          for (int i = 0; i < HS; ++i)
            d += qkv[(b * T + t) * 3 * C + h * HS + i] * qkv[(b * T + u) * 3 * C + C + h * HS + i];
          s[u] = d / std::sqrt(double(HS));
          mx = std::max(mx, s[u]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int u = 0; u < T; ++u) {
          const double p = u <= t ? s[u] / sum : 0.0;
          EXPECT_NEAR(att[((b * NH + h) * T + t) * T + u], p, 1e-5);
        }
        for (int i = 0; i < HS; ++i) {
          double y = 0;
          for (int u = 0; u <= t; ++u) y += s[u] / sum * qkv[(b * T + u) * 3 * C + 2 * C + h * HS + i];
          EXPECT_NEAR(out[(b * T + t) * C + h * HS + i], y, 1e-5);
        }
      }
}

// Finite differences: loss = Σ out ⊙ R for a fixed random R, so dout = R.
// fwd(inputs) -> out; bwd(inputs, dout) -> gradients (same layout as inputs).
void check_grad(std::vector<float> x, const std::function<std::vector<float>(const std::vector<float>&)>& fwd,
                const std::function<std::vector<float>(const std::vector<float>&, const std::vector<float>&)>& bwd,
                const char* what, float tol = 2e-2f) {
  auto out = fwd(x);
  auto R = randn(out.size(), 99);
  auto g = bwd(x, R);
  ASSERT_EQ(g.size(), x.size());
  auto loss = [&](const std::vector<float>& xx) {
    auto o = fwd(xx);
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += double(o[i]) * R[i];
    return s;
  };
  const float h = 1e-2f;
  for (size_t i = 0; i < x.size(); i += std::max<size_t>(1, x.size() / 40)) {
    auto xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double num = (loss(xp) - loss(xm)) / (2 * h);
    EXPECT_NEAR(g[i], num, tol * std::max(1.0, std::fabs(num))) << what << " element " << i;
  }
}

TEST(FiniteDifferences, LayerNorm) {
  const int N = 3, C = 8;
  auto w = randn(C, 5, 0.5f), b = randn(C, 6);
  for (auto& v : w) v += 1;
  // Input gradient, then weight and bias gradients (x packs [inp | w | b]).
  std::vector<float> x = randn(N * C, 7);
  x.insert(x.end(), w.begin(), w.end());
  x.insert(x.end(), b.begin(), b.end());
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> out(N * C), m(N), r(N);
    layernorm_forward(out.data(), m.data(), r.data(), xx.data(), xx.data() + N * C, xx.data() + N * C + C, N, C, 1e-5f);
    return out;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& dout) {
    std::vector<float> out(N * C), m(N), r(N), g(xx.size(), 0.0f);
    layernorm_forward(out.data(), m.data(), r.data(), xx.data(), xx.data() + N * C, xx.data() + N * C + C, N, C, 1e-5f);
    layernorm_backward(g.data(), g.data() + N * C, g.data() + N * C + C, dout.data(), xx.data(), xx.data() + N * C,
                       m.data(), r.data(), N, C);
    return g;
  };
  check_grad(x, fwd, bwd, "layernorm");
}

TEST(FiniteDifferences, Gelu) {
  auto x = randn(50, 8, 2.0f);
  auto fwd = [](const std::vector<float>& xx) {
    std::vector<float> o(xx.size());
    gelu_forward(o.data(), xx.data(), xx.size());
    return o;
  };
  auto bwd = [](const std::vector<float>& xx, const std::vector<float>& d) {
    std::vector<float> g(xx.size());
    gelu_backward(g.data(), xx.data(), d.data(), xx.size());
    return g;
  };
  check_grad(x, fwd, bwd, "gelu");
}

TEST(FiniteDifferences, Matmul) {
  const int N = 4, C = 5, OC = 3;
  std::vector<float> x = randn(N * C + OC * C + OC, 9);  // [inp | w | bias]
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> o(N * OC);
    matmul_forward(o.data(), xx.data(), xx.data() + N * C, xx.data() + N * C + OC * C, N, C, OC);
    return o;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& d) {
    std::vector<float> g(xx.size(), 0.0f);
    matmul_backward(g.data(), g.data() + N * C, g.data() + N * C + OC * C, d.data(), xx.data(), xx.data() + N * C, N, C,
                    OC);
    return g;
  };
  check_grad(x, fwd, bwd, "matmul");
}

TEST(FiniteDifferences, Attention) {
  const int B = 2, T = 5, C = 8, NH = 2;
  auto x = randn(B * T * 3 * C, 10);
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> o(B * T * C), att(B * NH * T * T);
    attention_forward(o.data(), att.data(), xx.data(), B, T, C, NH);
    return o;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& d) {
    std::vector<float> o(B * T * C), att(B * NH * T * T), datt(att.size()), g(xx.size());
    attention_forward(o.data(), att.data(), xx.data(), B, T, C, NH);
    attention_backward(g.data(), datt.data(), d.data(), xx.data(), att.data(), B, T, C, NH);
    return g;
  };
  check_grad(x, fwd, bwd, "attention");
}

// The blocked backward against the formulas in double, at a T that spans three causal blocks
// (the last one short), every element of dq, dk and dv.
TEST(Attention, BackwardMatchesNaiveFormulasAcrossBlocks) {
  const int B = 1, T = 150, C = 8, NH = 2, HS = C / NH, C3 = 3 * C;
  auto qkv = randn(size_t(B) * T * C3, 31), dy = randn(size_t(B) * T * C, 32);
  std::vector<float> out(T * C), att(NH * T * T), datt(att.size()), g(qkv.size(), 7.0f);
  attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  attention_backward(g.data(), datt.data(), dy.data(), qkv.data(), att.data(), B, T, C, NH);
  const double scale = 1.0 / std::sqrt(double(HS));
  auto at = [&](int t, int part, int h, int i) { return double(qkv[size_t(t) * C3 + part * C + h * HS + i]); };
  std::vector<double> want(qkv.size(), 0.0);
  for (int h = 0; h < NH; ++h) {
    std::vector<double> P(T * T, 0.0), dS(T * T, 0.0);
    for (int t = 0; t < T; ++t) {
      double mx = -1e300, sum = 0;
      for (int s = 0; s <= t; ++s) {
        double d = 0;
        for (int i = 0; i < HS; ++i) d += at(t, 0, h, i) * at(s, 1, h, i);
        mx = std::max(mx, P[t * T + s] = d * scale);
      }
      for (int s = 0; s <= t; ++s) sum += (P[t * T + s] = std::exp(P[t * T + s] - mx));
      for (int s = 0; s <= t; ++s) P[t * T + s] /= sum;
      double dot = 0;
      std::vector<double> dP(t + 1);
      for (int s = 0; s <= t; ++s) {
        for (int i = 0; i < HS; ++i) dP[s] += double(dy[size_t(t) * C + h * HS + i]) * at(s, 2, h, i);
        dot += P[t * T + s] * dP[s];
      }
      for (int s = 0; s <= t; ++s) dS[t * T + s] = P[t * T + s] * (dP[s] - dot);
    }
    for (int t = 0; t < T; ++t)
      for (int s = 0; s <= t; ++s)
        for (int i = 0; i < HS; ++i) {
          want[size_t(t) * C3 + h * HS + i] += scale * dS[t * T + s] * at(s, 1, h, i);                 // dq
          want[size_t(s) * C3 + C + h * HS + i] += scale * dS[t * T + s] * at(t, 0, h, i);             // dk
          want[size_t(s) * C3 + 2 * C + h * HS + i] += P[t * T + s] * dy[size_t(t) * C + h * HS + i];  // dv
        }
  }
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], want[i], 1e-4 * std::max(1.0, std::fabs(want[i]))) << "element " << i;
}

TEST(FiniteDifferences, CrossEntropy) {
  const int N = 3, V = 7;
  auto x = randn(N * V, 11);
  std::vector<int> targets = {0, 6, 3};
  std::vector<float> losses(N), lse(N);
  auto fwd = [&](const std::vector<float>& xx) {
    cross_entropy_forward(losses.data(), lse.data(), xx.data(), targets.data(), N, V);
    return losses;
  };
  // A mean loss: dloss = 1/N for every row (R is ignored: the kernel assumes equal weights).
  auto mean_fwd = [&](const std::vector<float>& xx) {
    auto l = fwd(xx);
    double s = 0;
    for (float v : l) s += v;
    return std::vector<float>{float(s / N)};
  };
  auto xs = x;
  auto out = mean_fwd(xs);
  auto g = xs;
  cross_entropy_forward(losses.data(), lse.data(), g.data(), targets.data(), N, V);
  cross_entropy_backward_inplace(g.data(), lse.data(), targets.data(), 1.0f / N, N, V);
  for (int i = 0; i < N * V; ++i) {
    auto xp = x, xm = x;
    xp[i] += 1e-2f;
    xm[i] -= 1e-2f;
    const double num = (mean_fwd(xp)[0] - mean_fwd(xm)[0]) / 2e-2;
    EXPECT_NEAR(g[i], num, 1e-3) << i;
  }
  EXPECT_GT(out[0], 0);
}

TEST(FiniteDifferences, Embedding) {
  const int V = 5, P = 4, C = 3, T = 4, N = 8;
  std::vector<int> tokens = {1, 1, 4, 0, 2, 1, 3, 4};  // repeated ids scatter into one row
  std::vector<float> x = randn(V * C + P * C, 12);
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> o(N * C);
    embedding_forward(o.data(), tokens.data(), nullptr, xx.data(), xx.data() + V * C, N, T, C);
    return o;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& d) {
    std::vector<float> g(xx.size(), 0.0f);
    embedding_backward(g.data(), g.data() + V * C, d.data(), tokens.data(), N, T, C);
    return g;
  };
  check_grad(x, fwd, bwd, "embedding");
}

TEST(AdamW, MatchesTheFormulaInDouble) {
  const size_t n = 37;
  auto p = randn(n, 13), g = randn(n, 14);
  std::vector<float> m(n, 0), v(n, 0);
  std::vector<double> pd(p.begin(), p.end()), md(n, 0), vd(n, 0);
  const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
  for (long t = 1; t <= 3; ++t) {
    adamw_update(p.data(), g.data(), m.data(), v.data(), n, float(lr), float(b1), float(b2), float(eps), float(wd), t);
    for (size_t i = 0; i < n; ++i) {
      pd[i] *= 1 - lr * wd;
      md[i] = b1 * md[i] + (1 - b1) * g[i];
      vd[i] = b2 * vd[i] + (1 - b2) * g[i] * g[i];
      const double mh = md[i] / (1 - std::pow(b1, t)), vh = vd[i] / (1 - std::pow(b2, t));
      pd[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
  }
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(p[i], pd[i], 1e-5) << i;
}

// ---- the Llama kernels

TEST(RmsNorm, MatchesTheFormulaInDouble) {
  const int N = 5, C = 37;
  auto x = randn(N * C, 41), w = randn(C, 42);
  std::vector<float> out(N * C), rstd(N);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
  for (int n = 0; n < N; ++n) {
    double ss = 0;
    for (int c = 0; c < C; ++c) ss += double(x[n * C + c]) * x[n * C + c];
    const double s = 1.0 / std::sqrt(ss / C + 1e-5);
    EXPECT_NEAR(rstd[n], s, 1e-5 * s);
    for (int c = 0; c < C; ++c) EXPECT_NEAR(out[n * C + c], x[n * C + c] * s * w[c], 1e-5);
  }
}

TEST(FiniteDifferences, RmsNorm) {
  const int N = 3, C = 8;
  auto w = randn(C, 43, 0.5f);
  for (auto& v : w) v += 1;
  std::vector<float> x = randn(N * C, 44);  // [inp | w]
  x.insert(x.end(), w.begin(), w.end());
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> out(N * C), r(N);
    rmsnorm_forward(out.data(), r.data(), xx.data(), xx.data() + N * C, N, C, 1e-5f);
    return out;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& dout) {
    std::vector<float> out(N * C), r(N), g(xx.size(), 0.0f);
    rmsnorm_forward(out.data(), r.data(), xx.data(), xx.data() + N * C, N, C, 1e-5f);
    rmsnorm_backward(g.data(), g.data() + N * C, dout.data(), xx.data(), xx.data() + N * C, r.data(), N, C);
    return g;
  };
  check_grad(x, fwd, bwd, "rmsnorm");
}

// HF's formula written out: q·cos + rotate_half(q)·sin, rotate_half(x) = cat(−x2, x1), cos and
// sin of cat(freqs, freqs), in double; two heads at a row stride wider than them, positions far
// past where float angles would drift.
TEST(Rope, MatchesRotateHalfInDouble) {
  const int N = 4, H = 2, HS = 6, stride = 17, half = HS / 2;
  const std::vector<int> pos = {0, 1, 977, 30000};
  const std::vector<double> inv_freq = {1.0, 0.1, 0.001};
  auto x = randn(N * stride, 45), y = x;
  rope_forward(y.data(), pos.data(), inv_freq.data(), N, H, HS, stride);
  for (int n = 0; n < N; ++n) {
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < HS; ++i) {
        const double a = pos[n] * inv_freq[i % half];
        const float* xh = x.data() + n * stride + h * HS;
        const double rot = i < half ? -xh[i + half] : xh[i - half];
        EXPECT_NEAR(y[n * stride + h * HS + i], xh[i] * std::cos(a) + rot * std::sin(a), 1e-5) << n << " " << i;
      }
    for (int i = H * HS; i < stride; ++i) EXPECT_EQ(y[n * stride + i], x[n * stride + i]);  // untouched
  }
}

// What rotary embeddings are for: q·k after rotation depends only on the distance.
TEST(Rope, DotProductsDependOnTheDistanceOnly) {
  const int HS = 8;
  const std::vector<double> inv_freq = {1.0, 0.3, 0.05, 0.001};
  auto q = randn(HS, 46), k = randn(HS, 47);
  auto dot_at = [&](int pq, int pk) {
    auto a = q, b = k;
    rope_forward(a.data(), &pq, inv_freq.data(), 1, 1, HS, HS);
    rope_forward(b.data(), &pk, inv_freq.data(), 1, 1, HS, HS);
    double d = 0;
    for (int i = 0; i < HS; ++i) d += double(a[i]) * b[i];
    return d;
  };
  EXPECT_NEAR(dot_at(5, 2), dot_at(103, 100), 1e-4);
  EXPECT_NEAR(dot_at(7, 7), dot_at(0, 0), 1e-4);
}

TEST(FiniteDifferences, Rope) {
  const int N = 3, H = 2, HS = 4, stride = 10;
  const std::vector<int> pos = {0, 3, 11};
  const std::vector<double> inv_freq = {1.0, 0.2};
  auto fwd = [&](const std::vector<float>& xx) {
    auto o = xx;
    rope_forward(o.data(), pos.data(), inv_freq.data(), N, H, HS, stride);
    return o;
  };
  auto bwd = [&](const std::vector<float>&, const std::vector<float>& d) {
    auto g = d;  // columns past the heads pass through: their gradient is d itself
    rope_backward(g.data(), pos.data(), inv_freq.data(), N, H, HS, stride);
    return g;
  };
  check_grad(randn(N * stride, 48), fwd, bwd, "rope");
}

TEST(SwiGlu, MatchesTheFormulaInDouble) {
  const int N = 3, I = 11;
  auto x = randn(N * 2 * I, 49, 2.0f);
  std::vector<float> out(N * I);
  swiglu_forward(out.data(), x.data(), N, I);
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < I; ++i) {
      const double g = x[n * 2 * I + i], u = x[n * 2 * I + I + i];
      EXPECT_NEAR(out[n * I + i], g / (1 + std::exp(-g)) * u, 1e-5);
    }
}

TEST(FiniteDifferences, SwiGlu) {
  const int N = 3, I = 7;
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> o(N * I);
    swiglu_forward(o.data(), xx.data(), N, I);
    return o;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& d) {
    std::vector<float> g(xx.size());
    swiglu_backward(g.data(), xx.data(), d.data(), N, I);
    return g;
  };
  check_grad(randn(N * 2 * I, 50, 2.0f), fwd, bwd, "swiglu");
}

// Grouped-query attention against its naive twin: multi-head attention (whose own naive loops
// are above) over K/V heads repeated G times (repeat_interleave), forward and backward; the
// backward's dK/dV are the sums over each group. T spans three causal blocks.
TEST(Attention, GroupedQueryEqualsMultiHeadOverRepeatedKv) {
  for (auto [NH, NKV] : std::vector<std::pair<int, int>>{{4, 2}, {6, 1}, {3, 3}}) {
    const int B = 2, T = 131, HS = 4, G = NH / NKV, D = NH * HS, QKV = (NH + 2 * NKV) * HS, C = D;
    auto qkv = randn(size_t(B) * T * QKV, 51), dy = randn(size_t(B) * T * D, 52);
    std::vector<float> full(size_t(B) * T * 3 * C);  // MHA's [q | k | v] with k, v repeated
    for (int n = 0; n < B * T; ++n)
      for (int h = 0; h < NH; ++h)
        for (int i = 0; i < HS; ++i) {
          const float* r = qkv.data() + size_t(n) * QKV;
          float* f = full.data() + size_t(n) * 3 * C;
          f[h * HS + i] = r[h * HS + i];
          f[C + h * HS + i] = r[D + (h / G) * HS + i];
          f[2 * C + h * HS + i] = r[D + NKV * HS + (h / G) * HS + i];
        }
    std::vector<float> y1(size_t(B) * T * D), y2(y1.size()), att1(size_t(B) * NH * T * T), att2(att1.size());
    attention_gqa_forward(y1.data(), att1.data(), qkv.data(), B, T, NH, NKV, HS);
    attention_forward(y2.data(), att2.data(), full.data(), B, T, C, NH);
    EXPECT_LT(max_abs_diff(y1, y2), 1e-5f) << NH << "/" << NKV;
    EXPECT_LT(max_abs_diff(att1, att2), 1e-6f);
    std::vector<float> d1(qkv.size()), d2(full.size()), datt(att1.size());
    attention_gqa_backward(d1.data(), datt.data(), dy.data(), qkv.data(), att1.data(), B, T, NH, NKV, HS);
    attention_backward(d2.data(), datt.data(), dy.data(), full.data(), att2.data(), B, T, C, NH);
    float worst = 0;
    for (int n = 0; n < B * T; ++n)
      for (int i = 0; i < QKV; ++i) {
        const float* f = d2.data() + size_t(n) * 3 * C;
        double want = 0;
        if (i < D) {
          want = f[i];
        } else {
          const bool is_v = i >= D + NKV * HS;
          const int kvh = (i - D - (is_v ? NKV * HS : 0)) / HS, e = (i - D) % HS;
          for (int g = 0; g < G; ++g) want += f[(is_v ? 2 : 1) * C + (kvh * G + g) * HS + e];
        }
        worst = std::max(worst, float(std::fabs(d1[size_t(n) * QKV + i] - want)));
      }
    EXPECT_LT(worst, 1e-4f) << NH << "/" << NKV;
  }
}

TEST(FiniteDifferences, GroupedQueryAttention) {
  const int B = 2, T = 5, NH = 4, NKV = 2, HS = 3, QKV = (NH + 2 * NKV) * HS;
  auto fwd = [&](const std::vector<float>& xx) {
    std::vector<float> o(B * T * NH * HS), att(B * NH * T * T);
    attention_gqa_forward(o.data(), att.data(), xx.data(), B, T, NH, NKV, HS);
    return o;
  };
  auto bwd = [&](const std::vector<float>& xx, const std::vector<float>& d) {
    std::vector<float> o(B * T * NH * HS), att(B * NH * T * T), datt(att.size()), g(xx.size());
    attention_gqa_forward(o.data(), att.data(), xx.data(), B, T, NH, NKV, HS);
    attention_gqa_backward(g.data(), datt.data(), d.data(), xx.data(), att.data(), B, T, NH, NKV, HS);
    return g;
  };
  check_grad(randn(B * T * QKV, 53), fwd, bwd, "gqa attention");
}

}  // namespace
}  // namespace tf
