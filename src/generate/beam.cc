// Beam search, as the README documents it. K beams advance as one batched cached step; a beam
// is a list of KV-cache row indices, so a beam that continues a parent copies the parent's
// indices (ints), never its K/V.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "generate/generator.h"

namespace tf {

namespace {

struct Beam {
  std::vector<int> tokens;  // generated so far
  std::vector<float> logprobs;
  double cum = 0;           // cumulative log-prob (of the processed distribution)
  double raw = 0;           // cumulative log-prob under the raw logits
  KvSeq seq;
  int node = 0;             // in the beam tree
};

struct Finished {
  GeneratedSequence out;
  double score;
};

double length_normalised(double cum, size_t len, float alpha) {
  return cum / std::pow(double(len), double(alpha));
}

// Pool of at most K finished hypotheses, best first.
void pool_add(std::vector<Finished>& pool, Finished f, int K) {
  pool.push_back(std::move(f));
  std::stable_sort(pool.begin(), pool.end(), [](const Finished& a, const Finished& b) { return a.score > b.score; });
  if (int(pool.size()) > K) pool.resize(K);
}

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

}  // namespace

GenerateResult beam_search(Gpt& model, const Tokenizer* tok, std::span<const int> prompt,
                           const GenerateOptions& o) {
  using Clock = std::chrono::steady_clock;
  const Config& c = model.config();
  const int V = c.vocab_size, K = o.beams, P = int(prompt.size());
  GenerateResult res;
  res.stats.prompt_tokens = P;
  KvCache cache(c, o.kv_cache ? P + K * o.max_new : 1);
  // Two fixed sets of K beam slots, alive and next, swapped after each step; every slot's lists
  // are reserved for the whole run, so the per-step bookkeeping allocates nothing.
  std::vector<Beam> alive(K), next(K);
  for (auto* set : {&alive, &next})
    for (auto& b : *set) {
      b.tokens.reserve(o.max_new);
      b.logprobs.reserve(o.max_new);
      b.seq.rows.reserve(P + o.max_new);
    }
  int n_alive = 1;
  std::vector<float> logits(size_t(K) * V);
  // Per beam slot: the scratch of scoring its continuations, so the K beams score in parallel.
  struct Scratch {
    std::vector<float> raw, logp;
    std::vector<int> counts, context, best;
  };
  std::vector<Scratch> scratch(K);
  for (auto& sc : scratch) {
    sc.raw.resize(V);
    sc.logp.resize(V);
    sc.context.reserve(P + o.max_new);
    sc.best.reserve(2 * K + 1);
  }

  auto t0 = Clock::now();
  if (o.kv_cache) {
    const float* l = model.prefill(cache, alive[0].seq, prompt);
    std::copy(l, l + V, logits.begin());
  } else {
    const float* l = model.forward_last(prompt.data(), 1, P);
    std::copy(l, l + V, logits.begin());
  }
  res.stats.positions_processed += P;
  res.stats.forward_passes = 1;
  for (long t = 1; t <= P; ++t) res.stats.flops += flops_per_position(c, t);
  res.stats.prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();

  struct Cand {
    double cum;
    int beam, token;
    float lp, raw_lp;
  };
  std::vector<Cand> cands;
  std::vector<Finished> pool;
  std::vector<int> batch_tokens, scratch_tokens;
  std::vector<KvSeq*> seqs;
  cands.reserve(size_t(K) * 2 * K);
  batch_tokens.reserve(K);
  seqs.reserve(K);
  scratch_tokens.reserve(o.max_new);
  std::vector<int> all_tokens;  // (K, T) for the uncached baseline
  bool reached_max_new = false;
  for (int k = 0; k < o.max_new; ++k) {
    // Score every continuation of every alive beam.
    cands.clear();
#pragma omp parallel for schedule(static) if (n_alive > 1)
    for (int b = 0; b < n_alive; ++b) {
      Scratch& sc = scratch[b];
      std::span<float> ls(logits.data() + size_t(b) * V, V);
      sc.context.assign(prompt.begin(), prompt.end());
      sc.context.insert(sc.context.end(), alive[b].tokens.begin(), alive[b].tokens.end());
      std::copy(ls.begin(), ls.end(), sc.raw.begin());  // the model's own distribution, for logprob
      log_softmax(sc.raw, sc.raw);
      apply_penalties(ls, sc.context, o.proc, sc.counts);
      if (o.eos >= 0 && k < o.min_new) ls[o.eos] = -INFINITY;
      log_softmax(ls, sc.logp);
      // The step's best 2K all lie within each beam's best 2K (the beam's cum is one constant
      // within it), so only those become candidates, not all K·V.
      best_tokens(sc.logp, 2 * K, sc.best);
    }
    for (int b = 0; b < n_alive; ++b)  // in beam order: the candidate list does not depend on threads
      for (int v : scratch[b].best)
        cands.push_back({alive[b].cum + scratch[b].logp[v], b, v, scratch[b].logp[v], scratch[b].raw[v]});
    const size_t top = std::min(cands.size(), size_t(2 * K));
    std::partial_sort(cands.begin(), cands.begin() + top, cands.end(), [](const Cand& a, const Cand& b) {
      return a.cum != b.cum ? a.cum > b.cum : a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
    });
    // Walk the best 2K: an ending one enters the pool, another becomes an alive beam.
    int n_next = 0;
    for (size_t i = 0; i < top && n_next < K; ++i) {
      const Cand& cd = cands[i];
      const Beam& parent = alive[cd.beam];
      const size_t len = parent.tokens.size() + 1;  // generated length with this token
      const char* reason = nullptr;
      if (cd.token == o.eos) {
        reason = "eos";
      } else if (!o.stop.empty() && k + 1 >= o.min_new) {
        scratch_tokens.assign(parent.tokens.begin(), parent.tokens.end());
        scratch_tokens.push_back(cd.token);
        if (find_stop(tok->decode(scratch_tokens), o.stop) != std::string::npos) reason = "stop";
      }
      if (o.trace_beams)
        res.beam_tree.push_back({int(res.beam_tree.size()) + 1, parent.node, k + 1, cd.token, cd.cum,
                                 reason ? length_normalised(cd.cum, len, o.length_penalty) : 0.0, reason != nullptr});
      if (reason) {  // a finished hypothesis: copied out once, not per step
        Finished f;
        f.out.tokens = parent.tokens;
        f.out.tokens.push_back(cd.token);
        f.out.logprobs = parent.logprobs;
        f.out.logprobs.push_back(cd.lp);
        f.out.logprob = parent.raw + cd.raw_lp;
        f.out.finish_reason = reason;
        f.score = f.out.score = length_normalised(cd.cum, f.out.tokens.size(), o.length_penalty);
        pool_add(pool, std::move(f), K);
        continue;
      }
      Beam& nb = next[n_next++];
      nb.tokens.assign(parent.tokens.begin(), parent.tokens.end());  // within reserved capacity
      nb.tokens.push_back(cd.token);
      nb.logprobs.assign(parent.logprobs.begin(), parent.logprobs.end());
      nb.logprobs.push_back(cd.lp);
      nb.cum = cd.cum;
      nb.raw = parent.raw + cd.raw_lp;
      nb.node = o.trace_beams ? res.beam_tree.back().id : 0;
      nb.seq.rows.assign(parent.seq.rows.begin(), parent.seq.rows.end());  // shared rows: indices only
    }
    std::swap(alive, next);
    n_alive = n_next;
    if (n_alive == 0) break;
    const bool full = int(pool.size()) >= K;
    if (full && o.early_stopping) break;
    if (full) {
      double best_alive = -INFINITY;
      for (int b = 0; b < n_alive; ++b)
        best_alive = std::max(best_alive, length_normalised(alive[b].cum, alive[b].tokens.size(), o.length_penalty));
      if (best_alive <= pool.back().score) break;
    }
    if (k + 1 == o.max_new) {
      reached_max_new = true;
      break;
    }
    // Advance all alive beams as one batched step.
    batch_tokens.clear();
    seqs.clear();
    for (int b = 0; b < n_alive; ++b) {
      batch_tokens.push_back(alive[b].tokens.back());
      seqs.push_back(&alive[b].seq);
    }
    const int M = n_alive;
    if (o.kv_cache) {
      model.step(cache, seqs, batch_tokens, logits.data());
      res.stats.positions_processed += M;
      res.stats.flops += M * flops_per_position(c, P + k + 1);
    } else {
      const int T = P + k + 1;
      all_tokens.clear();
      for (int b = 0; b < n_alive; ++b) {
        all_tokens.insert(all_tokens.end(), prompt.begin(), prompt.end());
        all_tokens.insert(all_tokens.end(), alive[b].tokens.begin(), alive[b].tokens.end());
      }
      const float* l = model.forward_last(all_tokens.data(), M, T);
      std::copy(l, l + size_t(M) * V, logits.begin());
      res.stats.positions_processed += long(M) * T;
      for (long t = 1; t <= T; ++t) res.stats.flops += M * flops_per_position(c, t);
    }
    res.stats.forward_passes += 1;
  }
  // At max-new, alive beams are scored as if they ended and compete with the pool.
  for (int i = 0; i < (reached_max_new ? n_alive : 0); ++i) {
    const Beam& b = alive[i];
    Finished f;
    f.out.tokens = b.tokens;
    f.out.logprobs = b.logprobs;
    f.out.finish_reason = "length";
    f.out.logprob = b.raw;
    f.score = f.out.score = length_normalised(b.cum, b.tokens.size(), o.length_penalty);
    pool_add(pool, std::move(f), K);
  }
  res.stats.decode_s = std::chrono::duration<double>(Clock::now() - t0).count();
  res.stats.kv_cache_bytes = o.kv_cache ? cache.kv_cache_bytes() : 0;
  for (int i = 0; i < o.num_return && i < int(pool.size()); ++i) {
    GeneratedSequence g = std::move(pool[i].out);
    if (tok) {
      g.text = tok->decode(g.tokens);
      if (g.finish_reason == "stop") g.text = g.text.substr(0, find_stop(g.text, o.stop));
    }
    res.stats.new_tokens += int(g.tokens.size());
    res.sequences.push_back(std::move(g));
  }
  return res;
}

}  // namespace tf
