#include "generate/processors.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "kernels/fast_math.h"

namespace tf {

void apply_penalties(std::span<float> logits, std::span<const int> context, const Penalties& o,
                     std::vector<int>& counts) {
  const int V = int(logits.size());
  const bool any_penalty = o.repetition != 1.0f || o.frequency != 0.0f || o.presence != 0.0f;
  if (any_penalty) {
    counts.assign(V, 0);
    for (int t : context) ++counts[t];
    for (int v = 0; v < V; ++v) {
      if (!counts[v]) continue;
      float& l = logits[v];
      if (o.repetition != 1.0f) l = l > 0 ? l / o.repetition : l * o.repetition;
      l -= o.frequency * float(counts[v]) + o.presence;
    }
  }
  const int n = o.no_repeat_ngram;
  const int len = int(context.size());
  if (n > 0 && len + 1 >= n) {
    // Every earlier (n-1)-gram equal to the last n-1 tokens bans the token that followed it.
    const int* tail = context.data() + len - (n - 1);
    for (int s = 0; s + n <= len; ++s) {
      if (std::equal(tail, tail + n - 1, context.data() + s))
        logits[context[s + n - 1]] = -std::numeric_limits<float>::infinity();
    }
  }
}

namespace {
bool more_likely(const Candidate& a, const Candidate& b) {
  return a.prob != b.prob ? a.prob > b.prob : a.token < b.token;
}
void renormalise(std::vector<Candidate>& c) {
  double s = 0;
  for (auto& x : c) s += x.prob;
  for (auto& x : c) x.prob = float(x.prob / s);
}
}  // namespace

std::vector<Candidate> sampling_distribution(std::span<const float> logits, const SamplingFilters& o,
                                             std::vector<std::vector<Candidate>>* trace) {
  std::vector<Candidate> c;
  sampling_distribution(logits, o, c, trace);
  return c;
}

void sampling_distribution(std::span<const float> logits, const SamplingFilters& o, std::vector<Candidate>& c,
                           std::vector<std::vector<Candidate>>* trace) {
  const int V = int(logits.size());
  const float temp = o.temperature > 0 ? o.temperature : 1.0f;
  float mx = -std::numeric_limits<float>::infinity();
  for (float l : logits) mx = std::max(mx, l);
  c.clear();
  c.reserve(V);
  double sum = 0;
  for (int v = 0; v < V; ++v) {
    if (logits[v] == -std::numeric_limits<float>::infinity()) continue;
    const float p = std::exp((logits[v] - mx) / temp);
    c.push_back({v, p});
    sum += p;
  }
  if (c.empty()) throw Error("every token is banned at this step (no-repeat-ngram or penalties)");
  for (auto& x : c) x.prob = float(x.prob / sum);
  std::sort(c.begin(), c.end(), more_likely);
  if (trace) trace->assign(1, c);
  if (o.top_k > 0 && int(c.size()) > o.top_k) c.resize(o.top_k);
  if (trace) trace->push_back(c);
  if (o.top_p < 1.0f) {
    // Cumulative over the (renormalised) survivors of top-k.
    double total = 0, cum = 0;
    for (auto& x : c) total += x.prob;
    size_t keep = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
      cum += c[i].prob / total;
      if (cum >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
    c.resize(keep);
  }
  if (trace) trace->push_back(c);
  if (o.min_p > 0) {
    const float bound = o.min_p * c.front().prob;
    size_t keep = 0;
    while (keep < c.size() && c[keep].prob >= bound) ++keep;
    c.resize(std::max<size_t>(keep, 1));
  }
  renormalise(c);
  if (trace) {
    trace->push_back(c);
    for (auto& step : *trace) renormalise(step);
  }
}

int sample_from(const std::vector<Candidate>& dist, Rng& rng) {
  const float u = rng.uniform();
  float cum = 0;
  for (const auto& c : dist) {
    cum += c.prob;
    if (u < cum) return c.token;
  }
  return dist.back().token;
}

int argmax(std::span<const float> logits) {
  int best = 0;
  for (int v = 1; v < int(logits.size()); ++v)
    if (logits[v] > logits[best]) best = v;
  return best;
}

void log_softmax(std::span<const float> logits, std::span<float> out) {
  // Vectorised: exp_approx (about 1 ulp) summed per lane in double, so a 50257-entry
  // vocabulary costs a few microseconds rather than a libm call per entry.
  const float* l = logits.data();
  const size_t n = logits.size();
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (size_t i = 0; i < n; ++i) mx = l[i] > mx ? l[i] : mx;
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t i = 0; i < n; ++i) s += double(exp_approx(l[i] - mx));
  const float lse = mx + float(std::log(s));
  for (size_t i = 0; i < n; ++i) out[i] = l[i] - lse;
}

}  // namespace tf
