// Search strategies: each turns a step's logits into choices and keeps what it returns. The
// decode loop (decoder.cc) owns everything else: the passes, the penalties, stopping, the KV
// rows and the statistics.
#pragma once
#include <memory>
#include <span>
#include <vector>

#include "core/rng.h"
#include "generate/generator.h"
#include "model/kv_cache.h"

namespace tf {

// One sequence being decoded.
struct Hypothesis {
  int id = 0;                   // greedy and sampling: the sample's index
  std::vector<int> tokens;      // generated so far
  std::vector<float> logprobs;  // per token, of the processed distribution
  double cum = 0;               // Σ logprobs
  double raw = 0;               // Σ log-softmax of the raw logits
  KvSeq seq;                    // its cache rows (shared with its parent: indices only)
  int node = 0;                 // in the search tree
};

// A continuation: alive[parent] extended by token.
struct Choice {
  int parent, token;
  float logprob, raw_logprob;  // of the processed and of the raw distribution
  double cum;                  // the parent's cum + logprob
};

class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;
  // Hypotheses after the prompt (they share its rows) and the most alive at any step.
  virtual int initial() const = 0;
  virtual int max_alive() const = 0;
  // logits (M, V): each live hypothesis' logits after the penalties; raw_logp (M, V): the
  // log-softmax of the model's own logits. Appends the choices, best first.
  virtual void choose(int step, std::span<const Hypothesis> alive, std::span<float> logits,
                      std::span<const float> raw_logp, int V, std::vector<Choice>& out) = 0;
  // Whether the step wants another continuing hypothesis after n (beam: fewer than K).
  virtual bool wants_more(int n) const {
    (void)n;
    return true;
  }
  virtual void finish(Hypothesis&& h, FinishReason reason) = 0;
  // After a step: is the search over with these hypotheses still alive (beam: the pool of
  // finished ones can no longer improve)?
  virtual bool done(std::span<const Hypothesis> alive) const {
    (void)alive;
    return false;
  }
  // The score a finished hypothesis is ranked by.
  virtual double score(double cum, size_t length) const {
    (void)length;
    return cum;
  }
  virtual std::vector<GeneratedSequence> results() = 0;
};

std::unique_ptr<SearchStrategy> make_strategy(const GenerateOptions& o);

}  // namespace tf
