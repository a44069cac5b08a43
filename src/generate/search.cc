// Greedy and sampling: every hypothesis continues with one token of its own.
#include "generate/search.h"

#include <cmath>

namespace tf {

namespace {

// n independent sequences; greedy is n = 1 with the argmax, sampling draws sequence i's tokens
// from Rng(seed + i) (temperature 0 samples greedily).
class IndependentSearch final : public SearchStrategy {
 public:
  IndependentSearch(int n, const SamplingFilters* filters, uint64_t seed)
      : sampling_(filters && filters->temperature > 0), results_(n) {
    if (filters) filters_ = *filters;
    for (int i = 0; i < n; ++i) rngs_.emplace_back(seed + uint64_t(i));
    logp_.resize(0);
  }
  int initial() const override { return int(results_.size()); }
  int max_alive() const override { return int(results_.size()); }

  void choose(int, std::span<const Hypothesis> alive, std::span<float> logits, std::span<const float> raw_logp, int V,
              std::vector<Choice>& out) override {
    logp_.resize(V);
    for (int b = 0; b < int(alive.size()); ++b) {
      std::span<float> ls = logits.subspan(size_t(b) * V, V);
      int token;
      float lp = -INFINITY;  // of the processed distribution the token was chosen from
      if (!sampling_) {
        token = argmax(ls);
        log_softmax(ls, logp_);
        lp = logp_[token];
      } else {
        sampling_distribution(ls, filters_, dist_);
        token = sample_from(dist_, rngs_[alive[b].id]);
        for (const auto& c : dist_)
          if (c.token == token) lp = std::log(c.prob);
      }
      out.push_back({b, token, lp, raw_logp[size_t(b) * V + token], alive[b].cum + lp});
    }
  }

  void finish(Hypothesis&& h, FinishReason reason) override {
    GeneratedSequence& g = results_[h.id];
    g.tokens = std::move(h.tokens);
    g.logprobs = std::move(h.logprobs);
    g.logprob = h.raw;
    g.score = h.cum;
    g.finish_reason = reason;
  }

  std::vector<GeneratedSequence> results() override { return std::move(results_); }

 private:
  bool sampling_;
  SamplingFilters filters_;
  std::vector<Rng> rngs_;
  std::vector<GeneratedSequence> results_;
  std::vector<Candidate> dist_;
  std::vector<float> logp_;
};

}  // namespace

std::unique_ptr<SearchStrategy> make_beam_search(const BeamSearch& b);  // beam.cc

std::unique_ptr<SearchStrategy> make_strategy(const GenerateOptions& o) {
  if (auto* s = std::get_if<SampleSearch>(&o.search))
    return std::make_unique<IndependentSearch>(s->num_return, &s->filters, s->seed);
  if (auto* b = std::get_if<BeamSearch>(&o.search)) return make_beam_search(*b);
  return std::make_unique<IndependentSearch>(1, nullptr, 0);
}

}  // namespace tf
