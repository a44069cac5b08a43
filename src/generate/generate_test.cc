// Generation cross-checks: processors against naive references, the sampler against its
// distribution, cached against uncached decoding, and beam search against exhaustive search.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "generate/decoder.h"
#include "generate/generator.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/spm_test_tokenizer.h"

namespace tf {
namespace {

std::vector<float> random_logits(int V, uint64_t seed, float scale = 2.0f) {
  Rng r(seed);
  std::vector<float> l(V);
  for (auto& x : l) x = scale * r.normal();
  return l;
}

// The naive reference: full softmax, then each filter by its definition.
std::map<int, double> naive_distribution(const std::vector<float>& logits, const SamplingFilters& o) {
  const int V = int(logits.size());
  std::vector<double> p(V);
  double mx = *std::max_element(logits.begin(), logits.end()), s = 0;
  for (int v = 0; v < V; ++v) s += (p[v] = std::exp((logits[v] - mx) / o.temperature));
  for (auto& x : p) x /= s;
  std::vector<int> order(V);
  for (int v = 0; v < V; ++v) order[v] = v;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] != p[b] ? p[a] > p[b] : a < b; });
  std::vector<int> keep = order;
  if (o.top_k > 0 && int(keep.size()) > o.top_k) keep.resize(o.top_k);
  if (o.top_p < 1) {
    double tot = 0;
    for (int v : keep) tot += p[v];
    double cum = 0;
    for (size_t i = 0; i < keep.size(); ++i) {
      cum += p[keep[i]] / tot;
      if (cum >= o.top_p) {
        keep.resize(i + 1);
        break;
      }
    }
  }
  if (o.min_p > 0) {
    const double bound = o.min_p * p[keep[0]];
    std::vector<int> k2;
    for (int v : keep)
      if (p[v] >= bound) k2.push_back(v);
    keep = k2;
  }
  std::map<int, double> d;
  double tot = 0;
  for (int v : keep) tot += p[v];
  for (int v : keep) d[v] = p[v] / tot;
  return d;
}

// The tests' shorthand for options of strategy s.
struct Opts {
  Strategy strategy = Strategy::kGreedy;
  int max_new = 32, eos = -1, beams = 4, num_return = 1;
  uint64_t seed = 0;
  float length_penalty = 1.0f;
  SamplingFilters filters;
  Penalties penalties;
};
GenerateOptions opts(const Opts& a) {
  GenerateOptions o{.max_new = a.max_new, .eos = a.eos, .penalties = a.penalties};
  if (a.strategy == Strategy::kSample)
    o.search = SampleSearch{.filters = a.filters, .num_return = a.num_return, .seed = a.seed};
  if (a.strategy == Strategy::kBeam)
    o.search = BeamSearch{.width = a.beams, .length_penalty = a.length_penalty, .num_return = a.num_return};
  return o;
}

TEST(Processors, FiltersMatchTheNaiveDefinitions) {
  std::vector<SamplingFilters> cases = {{.temperature = 1.0f},
                                        {.temperature = 0.7f, .top_k = 5},
                                        {.temperature = 1.3f, .top_p = 0.8f},
                                        {.temperature = 1.0f, .min_p = 0.1f},
                                        {.temperature = 0.9f, .top_k = 20, .top_p = 0.5f, .min_p = 0.05f}};
  for (size_t ci = 0; ci < cases.size(); ++ci)
    for (uint64_t seed = 0; seed < 5; ++seed) {
      auto l = random_logits(50, seed * 31 + ci);
      auto want = naive_distribution(l, cases[ci]);
      auto got = sampling_distribution(l, cases[ci]);
      ASSERT_EQ(got.size(), want.size()) << "case " << ci;
      for (auto& c : got) EXPECT_NEAR(c.prob, want.at(c.token), 1e-5) << "case " << ci;
    }
}

TEST(Processors, TopPKeepsTheTokenThatCrossesP) {
  // probabilities 0.5, 0.3, 0.2: p = 0.6 keeps two (0.5 < 0.6 <= 0.8), p = 0.5 keeps one.
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  EXPECT_EQ(sampling_distribution(l, {.top_p = 0.6f}).size(), 2u);
  EXPECT_EQ(sampling_distribution(l, {.top_p = 0.5f}).size(), 1u);
  EXPECT_EQ(sampling_distribution(l, {.min_p = 0.5f}).size(), 2u);  // 0.2 < 0.25
}

TEST(Processors, PenaltiesAndNoRepeatNgram) {
  std::vector<float> l = {2.0f, -1.0f, 0.5f, 3.0f};
  std::vector<int> ctx = {0, 1, 1}, counts;
  Penalties o{.repetition = 2.0f, .frequency = 0.5f, .presence = 0.25f};
  apply_penalties(l, ctx, o, counts);
  EXPECT_FLOAT_EQ(l[0], 2.0f / 2 - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], -1.0f * 2 - 1.0f - 0.25f);
  EXPECT_FLOAT_EQ(l[2], 0.5f);
  std::vector<float> l2(4, 0.0f);
  std::vector<int> ctx2 = {2, 3, 1, 2};  // last token 2; "2 3" seen: 3 is banned for n = 2
  apply_penalties(l2, ctx2, Penalties{.no_repeat_ngram = 2}, counts);
  EXPECT_TRUE(std::isinf(l2[3]));
  EXPECT_EQ(l2[0], 0.0f);
  EXPECT_EQ(l2[1], 0.0f);
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
  auto l = random_logits(8, 3, 1.0f);
  SamplingFilters o{.temperature = 1.0f, .top_k = 6};
  auto dist = sampling_distribution(l, o);
  Rng rng(11);
  std::map<int, int> hits;
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++hits[sample_from(dist, rng)];
  for (auto& c : dist) EXPECT_NEAR(hits[c.token] / double(n), c.prob, 4 * std::sqrt(c.prob / n) + 1e-4);
  EXPECT_EQ(hits.size(), dist.size());  // nothing outside the top-k is ever drawn
}

Model random_model(uint64_t seed, int V = 11) {
  Config c{.vocab_size = V, .n_positions = 32, .n_embd = 16, .n_layer = 2, .n_head = 2};
  Model g(c);
  init_params(c, g.mutable_params().data(), seed);
  Rng r(seed);
  for (auto& p : g.mutable_params()) p += 0.3f * r.normal();  // peaky distributions, varied choices
  return g;
}

TEST(Generate, CachedEqualsUncachedForEveryStrategy) {
  Model g = random_model(5);
  std::vector<int> prompt = {1, 4, 2};
  for (Strategy s : {Strategy::kGreedy, Strategy::kSample, Strategy::kBeam}) {
    GenerateOptions o = opts({.strategy = s,
                              .max_new = 12,
                              .beams = 3,
                              .num_return = s == Strategy::kGreedy ? 1 : 2,
                              .seed = 7,
                              .filters = {.top_k = 5},
                              .penalties = {.repetition = 1.2f}});
    auto a = generate(g, nullptr, prompt, o);
    o.kv_cache = false;
    auto b = generate(g, nullptr, prompt, o);
    ASSERT_EQ(a.sequences.size(), b.sequences.size());
    for (size_t i = 0; i < a.sequences.size(); ++i) EXPECT_EQ(a.sequences[i].tokens, b.sequences[i].tokens) << int(s);
    EXPECT_LT(a.stats.positions_processed, b.stats.positions_processed);
  }
}

// Q8_0 weights: the uncached path runs the parallel pass on the dequantized floats, the cached
// one streams the blocks; the tokens must be the same.
TEST(Generate, CachedEqualsUncachedWithQ8_0Weights) {
  Config c{.vocab_size = 40, .n_positions = 32, .n_embd = 32, .n_layer = 2, .n_head = 2};
  Model g(c);
  init_params(c, g.mutable_params().data(), 9);
  Rng r(9);
  for (auto& p : g.mutable_params()) p += 0.3f * r.normal();
  g.use_q8_0_weights();
  std::vector<int> prompt = {1, 4, 2};
  for (Strategy s : {Strategy::kGreedy, Strategy::kSample, Strategy::kBeam}) {
    GenerateOptions o = opts({.strategy = s, .max_new = 16, .beams = 3, .seed = 7});
    auto a = generate(g, nullptr, prompt, o);
    o.kv_cache = false;
    auto b = generate(g, nullptr, prompt, o);
    ASSERT_EQ(a.sequences.size(), b.sequences.size());
    for (size_t i = 0; i < a.sequences.size(); ++i) EXPECT_EQ(a.sequences[i].tokens, b.sequences[i].tokens) << int(s);
  }
}

TEST(Generate, SameSeedSameSamplesAtAnyThreadCount) {
  Model g = random_model(6, 40);
  std::vector<int> prompt = {3};
  GenerateOptions o = opts(
      {.strategy = Strategy::kSample, .max_new = 20, .num_return = 3, .seed = 99, .filters = {.temperature = 1.5f}});
  omp_set_num_threads(1);
  auto a = generate(g, nullptr, prompt, o);
  omp_set_num_threads(2);
  auto b = generate(g, nullptr, prompt, o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.sequences[i].tokens, b.sequences[i].tokens);
  EXPECT_NE(a.sequences[0].tokens, a.sequences[1].tokens);  // independent samples differ
  std::get<SampleSearch>(o.search).num_return = 1;
  auto c = generate(g, nullptr, prompt, o);
  EXPECT_EQ(c.sequences[0].tokens, a.sequences[0].tokens);  // sample 0 draws from Rng(seed)
}

// With no EOS, length_penalty 0 and K at least V^(n-1), beam search keeps every prefix and so
// finds the exact best sequence of n tokens; exhaustive search over V^n confirms it.
TEST(BeamSearch, EqualsExhaustiveSearchWhenWideEnough) {
  const int V = 5, n = 3;
  Model g = random_model(8, V);
  std::vector<int> prompt = {2, 0};
  GenerateOptions o = opts({.strategy = Strategy::kBeam, .max_new = n, .beams = 25, .length_penalty = 0.0f});
  auto r = generate(g, nullptr, prompt, o);
  Workspace ws;
  double best = -1e30;
  std::vector<int> best_seq;
  std::vector<float> lp(V);
  for (int s = 0; s < V * V * V; ++s) {
    std::vector<int> seq = {s / 25, (s / 5) % 5, s % 5}, ctx = prompt;
    double cum = 0;
    for (int k = 0; k < n; ++k) {
      g.forward(ws, ctx.data(), 1, int(ctx.size()));
      log_softmax(std::span<const float>(g.head_all(ws) + (ctx.size() - 1) * V, V), lp);
      cum += lp[seq[k]];
      ctx.push_back(seq[k]);
    }
    if (cum > best) {
      best = cum;
      best_seq = seq;
    }
  }
  EXPECT_EQ(r.sequences[0].tokens, best_seq);
  EXPECT_NEAR(r.sequences[0].score, best, 1e-4);
}

TEST(BeamSearch, EosEntersThePoolWithLengthPenaltyScore) {
  Model g = random_model(9, 6);
  std::vector<int> prompt = {1};
  for (int eos = 0; eos < 6; ++eos) {
    GenerateOptions o = opts(
        {.strategy = Strategy::kBeam, .max_new = 6, .eos = eos, .beams = 3, .num_return = 3, .length_penalty = 1.5f});
    auto r = generate(g, nullptr, prompt, o);
    for (size_t i = 1; i < r.sequences.size(); ++i) EXPECT_GE(r.sequences[i - 1].score, r.sequences[i].score);
    for (auto& s : r.sequences) {
      double cum = 0;
      for (float x : s.logprobs) cum += x;
      EXPECT_NEAR(s.score, cum / std::pow(double(s.tokens.size()), 1.5), 1e-4);
      if (s.finish_reason == FinishReason::kEos) {
        EXPECT_EQ(s.tokens.back(), eos);
      }
    }
  }
}

TEST(Generate, BadOptionsAreUsageErrors) {
  Model g = random_model(1);
  std::vector<int> p = {1};
  auto bad = [&](GenerateOptions o) { EXPECT_THROW(generate(g, nullptr, p, o), Error); };
  bad(opts({.strategy = Strategy::kSample, .filters = {.temperature = -1}}));
  bad(opts({.strategy = Strategy::kSample, .filters = {.top_p = 0}}));
  bad(opts({.strategy = Strategy::kSample, .filters = {.top_k = -1}}));
  bad(opts({.strategy = Strategy::kSample, .filters = {.min_p = 2}}));
  bad(opts({.strategy = Strategy::kBeam, .beams = 0}));
  bad(opts({.strategy = Strategy::kBeam, .beams = 2, .num_return = 3}));
  bad(opts({.max_new = 40}));  // 1 + 40 > n_positions 32
  // Settings the front ends give: an option the strategy ignores is refused, naming it.
  GenerateSettings greedy_two;
  greedy_two.num_return = 2;
  try {
    to_options(greedy_two, [](const std::string& id) { return id == "num_return"; });
    ADD_FAILURE() << "num_return with greedy accepted";
  } catch (const FieldError& e) {
    EXPECT_EQ(e.field(), "num_return");
    EXPECT_EQ(render_field_error(e, cli_name), "--num-return needs --strategy sample or beam (the strategy is greedy)");
  }
  GenerateSettings beams;
  beams.strategy = "beam";
  beams.beams = 2;
  beams.num_return = 3;
  try {
    to_options(beams, [](const std::string& id) { return id == "beams" || id == "num_return"; });
    ADD_FAILURE() << "num_return > beams accepted";
  } catch (const FieldError& e) {
    EXPECT_EQ(render_field_error(e, json_name), "num_return 3 is more than beams 2");
  }
  EXPECT_THROW(generate(g, nullptr, std::vector<int>{}, GenerateOptions{}), Error);
  EXPECT_THROW(generate(g, nullptr, std::vector<int>{11}, GenerateOptions{}), Error);
}

}  // namespace
}  // namespace tf

namespace tf {
namespace {

// Σ log-softmax(raw logits) of the continuation, recomputed by one teacher-forced pass.
double teacher_forced_logprob(const Model& g, const std::vector<int>& prompt, const std::vector<int>& cont) {
  std::vector<int> seq = prompt;
  seq.insert(seq.end(), cont.begin(), cont.end());
  const int V = g.config().vocab_size, T = int(seq.size());
  Workspace ws;
  g.forward(ws, seq.data(), 1, T);
  const float* logits = g.head_all(ws);
  std::vector<float> lp(V);
  double sum = 0;
  for (size_t k = 0; k < cont.size(); ++k) {
    log_softmax(std::span<const float>(logits + (prompt.size() - 1 + k) * V, V), lp);
    sum += lp[cont[k]];
  }
  return sum;
}

TEST(ModesCheckEachOther, LogprobEqualsTheTeacherForcedPass) {
  Model g = random_model(21, 17);
  std::vector<int> prompt = {3, 1, 4};
  for (Strategy s : {Strategy::kGreedy, Strategy::kSample, Strategy::kBeam}) {
    GenerateOptions o = opts({.strategy = s,
                              .max_new = 10,
                              .eos = 2,
                              .beams = 3,
                              .num_return = s == Strategy::kGreedy ? 1 : 3,
                              .seed = 3,
                              .filters = {.temperature = 0.8f, .top_k = 6},
                              .penalties = {.repetition = 1.3f}});
    const auto r = generate(g, nullptr, prompt, o);
    for (const auto& q : r.sequences) {
      const double want = teacher_forced_logprob(g, prompt, q.tokens);
      EXPECT_NEAR(q.logprob, want, 1e-4) << int(s);
    }
    // positions: with the cache, the prompt plus each fed-back token.
    if (s == Strategy::kGreedy && r.sequences[0].tokens.size() == 10u) {
      EXPECT_EQ(r.stats.positions_processed, 3 + 10 - 1);
    }
  }
}

TEST(ModesCheckEachOther, BeamOfOneAndTopKOneAreGreedy) {
  Model g = random_model(22, 13);
  std::vector<int> prompt = {5, 2};
  const auto greedy = generate(g, nullptr, prompt, opts({.strategy = Strategy::kGreedy, .max_new = 12}));
  const auto beam1 = generate(g, nullptr, prompt, opts({.strategy = Strategy::kBeam, .max_new = 12, .beams = 1}));
  GenerateOptions topk1 = opts({.strategy = Strategy::kSample, .max_new = 12, .seed = 9, .filters = {.top_k = 1}});
  const auto sampled = generate(g, nullptr, prompt, topk1);
  EXPECT_EQ(beam1.sequences[0].tokens, greedy.sequences[0].tokens);
  EXPECT_EQ(sampled.sequences[0].tokens, greedy.sequences[0].tokens);
}

// Chi-square critical value at p = 0.001 (Wilson-Hilferty).
double chi2_critical(int df) {
  const double z = 3.0902, a = 2.0 / (9.0 * df);
  return df * std::pow(1 - a + z * std::sqrt(a), 3);
}

TEST(ModesCheckEachOther, FirstTokenFrequenciesPassChiSquare) {
  Model g = random_model(23, 8);
  std::vector<int> prompt = {1, 6};
  std::vector<SamplingFilters> settings = {{.temperature = 1.0f},
                                           {.temperature = 0.7f, .top_k = 4},
                                           {.temperature = 1.3f, .top_p = 0.8f},
                                           {.temperature = 1.0f, .min_p = 0.2f}};
  Workspace ws;
  g.forward(ws, prompt.data(), 1, 2);
  const float* l = g.head_last(ws);
  const std::vector<float> logits(l, l + 8);
  for (const auto& proc : settings) {
    GenerateOptions o =
        opts({.strategy = Strategy::kSample, .max_new = 1, .num_return = 10000, .seed = 100, .filters = proc});
    const auto r = generate(g, nullptr, prompt, o);
    std::map<int, int> hits;
    for (const auto& q : r.sequences) ++hits[q.tokens[0]];
    const auto dist = sampling_distribution(logits, proc);
    double chi2 = 0;
    for (const auto& c : dist) {
      const double e = 10000.0 * c.prob;
      chi2 += (hits[c.token] - e) * (hits[c.token] - e) / e;
    }
    int outside = 0;
    for (auto& [tok, n] : hits)
      if (std::none_of(dist.begin(), dist.end(), [&](const Candidate& c) { return c.token == tok; })) outside += n;
    EXPECT_EQ(outside, 0);
    if (dist.size() > 1) {
      EXPECT_LT(chi2, chi2_critical(int(dist.size()) - 1)) << "T " << proc.temperature;
    }
  }
}

// Several Decodings stepped together, as the server's batcher steps them: one Model::step over
// the live sequences of all of them, each taking its rows of logits back, with requests joining
// at different steps. Each ends exactly as generate() alone (tokens, log-probs, scores), and
// every KV row returns to the shared pool, although the pool is sized to what they need together.
TEST(Decoding, SteppedTogetherEqualsEachAlone) {
  Model g = random_model(31, 23);
  std::vector<GenerateOptions> os = {
      opts({.max_new = 9}),
      opts(
          {.strategy = Strategy::kSample, .max_new = 12, .num_return = 3, .seed = 5, .filters = {.temperature = 1.3f}}),
      opts({.strategy = Strategy::kBeam, .max_new = 7, .eos = 4, .beams = 3, .num_return = 2}),
      opts({.strategy = Strategy::kSample, .max_new = 10, .eos = 2, .seed = 8, .penalties = {.repetition = 1.3f}}),
      opts({.max_new = 1}),
  };
  const std::vector<std::vector<int>> prompts = {{1, 2, 3}, {4}, {5, 6}, {7, 8, 9, 10}, {11, 12}};
  std::vector<std::unique_ptr<Decoding>> ds;
  int rows = 0;
  for (size_t i = 0; i < os.size(); ++i) {
    ds.push_back(std::make_unique<Decoding>(g, nullptr, prompts[i], os[i]));
    rows += ds.back()->rows_needed();
  }
  KvCache cache(g.config(), rows);
  Workspace ws;
  std::vector<KvSeq*> seqs;
  std::vector<int> tokens;
  std::vector<float> logits;
  const int V = g.config().vocab_size;
  for (int step = 0;; ++step) {
    if (size_t(step) < ds.size()) ds[step]->start(ws, &cache);  // one joins at each step
    seqs.clear();
    tokens.clear();
    std::vector<std::pair<Decoding*, size_t>> part;
    for (size_t i = 0; i < ds.size() && int(i) <= step; ++i)
      if (!ds[i]->done()) {
        part.push_back({ds[i].get(), seqs.size()});
        ds[i]->inputs(seqs, tokens);
      }
    if (part.empty() && size_t(step) >= ds.size()) break;
    if (part.empty()) continue;
    logits.resize(seqs.size() * V);
    g.step(ws, cache, seqs, tokens, logits.data());
    for (auto& [d, first] : part) d->consume(ws, logits.data() + first * V);
  }
  EXPECT_EQ(cache.free_rows(), cache.capacity());
  for (size_t i = 0; i < ds.size(); ++i) {
    const GenerateResult together = ds[i]->result(), alone = generate(g, nullptr, prompts[i], os[i]);
    ASSERT_EQ(together.sequences.size(), alone.sequences.size()) << i;
    for (size_t k = 0; k < alone.sequences.size(); ++k) {
      EXPECT_EQ(together.sequences[k].tokens, alone.sequences[k].tokens) << i << " " << k;
      EXPECT_EQ(together.sequences[k].logprobs, alone.sequences[k].logprobs) << i << " " << k;
      EXPECT_EQ(together.sequences[k].score, alone.sequences[k].score) << i << " " << k;
    }
  }
}

// Sequences that end give their rows back at once: the pool never holds more than the live ones.
TEST(Decoding, FinishedSequencesFreeTheirRows) {
  Model g = random_model(32, 9);
  const std::vector<int> prompt = {1, 2};
  GenerateOptions o = opts({.strategy = Strategy::kSample,
                            .max_new = 30,
                            .eos = 3,
                            .num_return = 4,
                            .seed = 1,
                            .filters = {.temperature = 2.0f}});
  Decoding d(g, nullptr, prompt, o);
  KvCache cache(g.config(), d.rows_needed());
  Workspace ws;
  d.start(ws, &cache);
  while (!d.done()) {
    // Held: the prompt's rows once, plus each live sequence's own.
    const int held = cache.capacity() - cache.free_rows();
    int own = 0;
    std::vector<KvSeq*> seqs;
    std::vector<int> tokens;
    d.inputs(seqs, tokens);
    for (auto* s : seqs) own += s->length() - int(prompt.size());
    EXPECT_EQ(held, int(prompt.size()) + own);
    d.advance(ws);
  }
  EXPECT_EQ(cache.free_rows(), cache.capacity());
}

// Stop strings on long outputs with a sentencepiece-style tokenizer (a leading space stripped,
// byte-fallback tokens that are halves of characters): the decoding stops at the first token
// whose continuation, decoded whole as the definition says, holds a stop string.
TEST(Decoding, StopStringsOnLongOutputsMatchTheWholeTextCheck) {
  const auto tok = load_hf_tokenizer(write_spm_tokenizer());
  const int V = tok->vocab_size() + 2;  // two rows past the vocabulary spell nothing
  Config c{.vocab_size = V, .n_positions = 320, .n_embd = 16, .n_layer = 1, .n_head = 2};
  Model g(c);
  init_params(c, g.mutable_params().data(), 3);
  Rng r(3);
  for (auto& p : g.mutable_params()) p += 0.3f * r.normal();  // peaky: texts repeat, stops recur
  const std::vector<int> prompt = {259, 260, 259};
  auto whole_text =
      [&](const std::vector<int>& tokens) {  // the definition: decode(prompt + tokens) past decode(prompt)
        std::vector<int> all(prompt.begin(), prompt.end());
        for (int t : tokens)
          if (t < tok->vocab_size()) all.push_back(t);
        const std::string p = tok->decode(prompt), t = tok->decode(all);
        EXPECT_TRUE(t.starts_with(p));
        return t.substr(p.size());
      };
  // One thread: a model this small only waits on the others (and the test runs many decodings).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  int stopped = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    GenerateOptions o = opts({.strategy = Strategy::kSample, .max_new = 300, .seed = seed});
    const GeneratedSequence full = generate(g, tok.get(), prompt, o).sequences[0];
    const std::string text = whole_text(full.tokens);
    ASSERT_EQ(full.text, text);
    std::vector<std::string> texts;  // texts[n]: the whole text of the first n tokens
    for (size_t n = 0; n <= full.tokens.size(); ++n)
      texts.push_back(whole_text({full.tokens.begin(), full.tokens.begin() + n}));
    // Stops taken from the text's late part, so they first appear after many tokens.
    for (size_t len : {1, 2, 3, 5}) {
      for (int min_new : {0, 150}) {
        o.stop = {text.substr(text.size() * (6 + len) / 13, len)};
        o.min_new = min_new;
        size_t k = min_new;
        while (k <= full.tokens.size() && (k == 0 || find_stop(texts[k], o.stop) == std::string::npos)) ++k;
        const GeneratedSequence got = generate(g, tok.get(), prompt, o).sequences[0];
        if (k > full.tokens.size()) {
          EXPECT_EQ(got.finish_reason, FinishReason::kLength);
          EXPECT_EQ(got.tokens, full.tokens);
          continue;
        }
        ++stopped;
        EXPECT_EQ(got.finish_reason, FinishReason::kStop) << seed << " " << len;
        EXPECT_EQ(got.tokens, std::vector<int>(full.tokens.begin(), full.tokens.begin() + k)) << seed << " " << len;
        const std::string want = whole_text(got.tokens);
        EXPECT_EQ(got.text, want.substr(0, find_stop(want, o.stop)));
      }
    }
  }
  omp_set_num_threads(threads);
  EXPECT_GT(stopped, 20);
}

}  // namespace
}  // namespace tf
