// Beam search, as the README documents it: K hypotheses; each step scores every continuation
// of every live beam by cumulative log-prob, walks the best 2K (an ending one enters the pool of
// finished hypotheses, another becomes a beam, until K beams); the pool keeps the K best by
// length-normalised score. The decode loop advances the K beams as one batched cached step; a
// beam is a list of KV-cache row indices, so continuing a parent copies ints, never K/V.
#include <algorithm>
#include <cmath>

#include "generate/search.h"

namespace tf {

namespace {

// The n finite entries of logp with the largest values, largest first, the lower token first
// on ties: one pass that keeps a sorted list of n and rejects most entries with one compare.
void best_tokens(std::span<const float> logp, int n, std::vector<int>& best) {
  best.clear();
  for (int v = 0; v < int(logp.size()); ++v) {
    const float l = logp[v];
    if (!std::isfinite(l)) continue;
    if (int(best.size()) == n && !(l > logp[best.back()])) continue;  // ties keep the lower id
    if (int(best.size()) == n) best.pop_back();
    auto at = best.end();
    while (at != best.begin() && logp[*(at - 1)] < l) --at;
    best.insert(at, v);
  }
}

class BeamStrategy final : public SearchStrategy {
 public:
  explicit BeamStrategy(const BeamSearch& o) : o_(o), scratch_(o.width) {}
  int initial() const override { return 1; }
  int max_alive() const override { return o_.width; }

  void choose(int, std::span<const Hypothesis> alive, std::span<float> logits, std::span<const float> raw_logp, int V,
              std::vector<Choice>& out) override {
    const int K = o_.width, M = int(alive.size());
#pragma omp parallel for schedule(static) if (M > 1)
    for (int b = 0; b < M; ++b) {
      Scratch& sc = scratch_[b];
      sc.logp.resize(V);
      log_softmax(logits.subspan(size_t(b) * V, V), sc.logp);
      // The step's best 2K all lie within each beam's best 2K (the beam's cum is one constant
      // within it), so only those become candidates, not all K·V.
      best_tokens(sc.logp, 2 * K, sc.best);
    }
    const size_t first = out.size();
    for (int b = 0; b < M; ++b)  // in beam order: the candidate list does not depend on threads
      for (int v : scratch_[b].best) {
        const float lp = scratch_[b].logp[v];
        out.push_back({b, v, lp, raw_logp[size_t(b) * V + v], alive[b].cum + lp});
      }
    const auto begin = out.begin() + long(first);
    const size_t top = std::min(out.size() - first, size_t(2 * K));
    std::partial_sort(begin, begin + long(top), out.end(), [](const Choice& a, const Choice& b) {
      return a.cum != b.cum ? a.cum > b.cum : a.parent != b.parent ? a.parent < b.parent : a.token < b.token;
    });
    out.resize(first + top);
  }

  bool wants_more(int n) const override { return n < o_.width; }

  double score(double cum, size_t length) const override {
    return cum / std::pow(double(length), double(o_.length_penalty));
  }

  void finish(Hypothesis&& h, FinishReason reason) override {
    GeneratedSequence g;
    g.tokens = std::move(h.tokens);
    g.logprobs = std::move(h.logprobs);
    g.logprob = h.raw;
    g.finish_reason = reason;
    g.score = score(h.cum, g.tokens.size());
    pool_.push_back(std::move(g));
    std::stable_sort(pool_.begin(), pool_.end(),
                     [](const GeneratedSequence& a, const GeneratedSequence& b) { return a.score > b.score; });
    if (int(pool_.size()) > o_.width) pool_.resize(o_.width);
  }

  // The pool is full and no live beam can beat its worst (or early stopping asks no more).
  bool done(std::span<const Hypothesis> alive) const override {
    if (int(pool_.size()) < o_.width) return false;
    if (o_.early_stopping) return true;
    double best_alive = -INFINITY;
    for (const auto& h : alive) best_alive = std::max(best_alive, score(h.cum, h.tokens.size()));
    return best_alive <= pool_.back().score;
  }

  std::vector<GeneratedSequence> results() override {
    if (int(pool_.size()) > o_.num_return) pool_.resize(o_.num_return);
    return std::move(pool_);
  }

 private:
  struct Scratch {
    std::vector<float> logp;
    std::vector<int> best;
  };
  BeamSearch o_;
  std::vector<Scratch> scratch_;         // per beam slot, so the beams score in parallel
  std::vector<GeneratedSequence> pool_;  // finished, best first, at most K
};

}  // namespace

std::unique_ptr<SearchStrategy> make_beam_search(const BeamSearch& b) { return std::make_unique<BeamStrategy>(b); }

}  // namespace tf
