// Logit processors, in the one fixed order tformer applies them:
//   1. penalties over the whole context (prompt + generated):
//        repetition (HF/CTRL): a seen token's logit l becomes l/p if l > 0, else l·p;
//        frequency and presence (OpenAI): l −= frequency·count + presence·[count > 0];
//   2. no-repeat-ngram (HF): a token that would complete an n-gram already in the context
//      gets −inf;
//   3. temperature: l /= temperature;
//   4. top-k: keep the k largest (k = 0: off);
//   5. top-p: keep the smallest set of most likely tokens whose probability sums to at least
//      p (the token that crosses p stays in; p = 1: off);
//   6. min-p: keep tokens whose probability is at least min_p × the largest (0: off).
// Ties are broken by the lower token id everywhere (sorting, greedy argmax, sampling walk).
// Steps 1-2 are "logit processors" (used by every strategy); 3-6 shape the sampling
// distribution only.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace tf {

// Steps 1-2.
struct Penalties {
  float repetition = 1.0f;
  float frequency = 0.0f;
  float presence = 0.0f;
  int no_repeat_ngram = 0;
};
// Steps 3-6.
struct SamplingFilters {
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
};

// Steps 1-2 in place on logits (V).
void apply_penalties(std::span<float> logits, std::span<const int> context, const Penalties& o,
                     std::vector<int>& counts_scratch);

// One candidate of the sampling distribution.
struct Candidate {
  int token;
  float prob;
};
// Steps 3-6: the candidates that survive, most likely first, probabilities renormalised.
// Also records the candidate set after each step when trace is non-null (the sampler
// inspector of the explainer): trace[0] after temperature, [1] top-k, [2] top-p, [3] min-p.
std::vector<Candidate> sampling_distribution(std::span<const float> logits, const SamplingFilters& o,
                                             std::vector<std::vector<Candidate>>* trace = nullptr);
// The same into out, whose capacity is reused (the per-token path allocates nothing).
void sampling_distribution(std::span<const float> logits, const SamplingFilters& o, std::vector<Candidate>& out,
                           std::vector<std::vector<Candidate>>* trace = nullptr);

// The draw: u = rng.uniform(); walk the candidates in order and return the first whose
// cumulative probability exceeds u (the last one if rounding leaves u past the total).
int sample_from(const std::vector<Candidate>& dist, Rng& rng);

// Greedy: the largest logit, the lowest id on ties.
int argmax(std::span<const float> logits);

// log softmax of logits into out (V).
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace tf
