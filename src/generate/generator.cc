#include "generate/generator.h"

#include <chrono>
#include <cmath>

#include "core/error.h"

namespace tf {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

size_t find_stop(const std::string& text, const std::vector<std::string>& stop) {
  size_t cut = std::string::npos;
  for (const auto& s : stop) {
    const size_t p = text.find(s);
    if (p != std::string::npos && p < cut) cut = p;
  }
  return cut;
}

void validate(const GenerateOptions& o, int vocab_size, bool has_tokenizer) {
  validate(o.proc);
  auto need = [](bool ok, const std::string& m) {
    if (!ok) throw UsageError(m);
  };
  need(o.max_new >= 1, "--max-new must be >= 1");
  need(o.min_new >= 0 && o.min_new <= o.max_new, "--min-new must be in [0, max-new]");
  need(o.eos >= -1 && o.eos < vocab_size,
       "--eos " + std::to_string(o.eos) + " is outside the vocabulary (size " + std::to_string(vocab_size) + ")");
  need(o.stop.empty() || has_tokenizer, "--stop needs a model directory with a tokenizer");
  for (auto& s : o.stop) need(!s.empty(), "--stop: empty stop string");
  need(o.num_return >= 1, "--num-return must be >= 1");
  if (o.strategy == Strategy::kBeam) {
    need(o.beams >= 1, "--beams must be >= 1");
    need(o.num_return <= o.beams, "--num-return " + std::to_string(o.num_return) + " is more than --beams " +
                                      std::to_string(o.beams));
  }
  if (o.strategy == Strategy::kGreedy) need(o.num_return == 1, "--num-return > 1 needs sampling or beam search");
}

GenerateResult generate(Gpt& model, const Tokenizer* tok, std::span<const int> prompt,
                        const GenerateOptions& o, const OnToken& on_token) {
  const Config& c = model.config();
  validate(o, c.vocab_size, tok != nullptr);
  if (prompt.empty()) throw UsageError("the prompt is empty");
  if (int(prompt.size()) + o.max_new > c.n_positions)
    throw Error("prompt (" + std::to_string(prompt.size()) + " tokens) + max-new (" + std::to_string(o.max_new) +
                ") exceeds the model's n_positions " + std::to_string(c.n_positions));
  if (o.strategy == Strategy::kBeam) return beam_search(model, tok, prompt, o);

  const Strategy strategy = o.proc.temperature == 0 ? Strategy::kGreedy : o.strategy;
  const int V = c.vocab_size, n = o.num_return, P = int(prompt.size());
  GenerateResult res;
  res.sequences.resize(n);
  res.stats.prompt_tokens = P;
  std::vector<Rng> rngs;
  for (int i = 0; i < n; ++i) rngs.emplace_back(o.seed + uint64_t(i));

  // Every sample shares the prompt's cache rows; each new position takes one row.
  KvCache cache(c, o.kv_cache ? P + n * o.max_new : 1);
  std::vector<KvSeq> seqs(n);
  std::vector<std::vector<int>> context(n, std::vector<int>(prompt.begin(), prompt.end()));
  for (auto& ctx : context) ctx.reserve(P + o.max_new);
  std::vector<float> logits(size_t(n) * V), logp(V), raw(V);
  std::vector<int> counts;
  std::vector<Candidate> dist;
  std::vector<int> alive(n);
  for (int i = 0; i < n; ++i) alive[i] = i;

  auto t0 = std::chrono::steady_clock::now();
  if (o.kv_cache) {
    const float* l = model.prefill(cache, seqs[0], prompt);
    for (int i = 0; i < n; ++i) std::copy(l, l + V, logits.begin() + size_t(i) * V);
    for (int i = 1; i < n; ++i) seqs[i].rows = seqs[0].rows;  // shared prefix: indices only
    for (auto& s : seqs) s.rows.reserve(P + o.max_new);
  } else {
    const float* l = model.forward_last(prompt.data(), 1, P);
    for (int i = 0; i < n; ++i) std::copy(l, l + V, logits.begin() + size_t(i) * V);
  }
  res.stats.positions_processed += P;
  res.stats.forward_passes += 1;
  for (long t = 1; t <= P; ++t) res.stats.flops += flops_per_position(c, t);
  res.stats.prefill_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();

  std::vector<KvSeq*> step_seqs;
  std::vector<int> step_tokens, step_ids;
  step_seqs.reserve(n);
  step_tokens.reserve(n);
  step_ids.reserve(n);
  for (auto& g : res.sequences) {
    g.tokens.reserve(o.max_new);
    g.logprobs.reserve(o.max_new);
  }
  for (int k = 0; k < o.max_new && !alive.empty(); ++k) {
    step_seqs.clear();
    step_tokens.clear();
    step_ids.clear();
    for (int i : alive) {
      float* l = logits.data() + size_t(i) * V;
      std::span<float> ls(l, V);
      GeneratedSequence& g = res.sequences[i];
      std::copy(l, l + V, raw.begin());  // the model's own distribution, for g.logprob
      apply_penalties(ls, context[i], o.proc, counts);
      if (o.eos >= 0 && int(g.tokens.size()) < o.min_new) l[o.eos] = -INFINITY;
      // The log-prob reported is of the processed distribution the token was chosen from.
      int tok_id;
      float lp = -INFINITY;
      if (strategy == Strategy::kGreedy) {
        tok_id = argmax(ls);
        log_softmax(ls, logp);
        lp = logp[tok_id];
      } else {
        sampling_distribution(ls, o.proc, dist);
        tok_id = sample_from(dist, rngs[i]);
        for (const auto& cd : dist)
          if (cd.token == tok_id) lp = std::log(cd.prob);
      }
      g.tokens.push_back(tok_id);
      g.logprobs.push_back(lp);
      g.score += lp;
      log_softmax(raw, logp);
      g.logprob += logp[tok_id];
      context[i].push_back(tok_id);
      bool done = false;
      if (tok_id == o.eos && int(g.tokens.size()) > o.min_new) {
        g.finish_reason = "eos";
        done = true;
      } else if (!o.stop.empty() && int(g.tokens.size()) >= o.min_new &&
                 find_stop(tok->decode(g.tokens), o.stop) != std::string::npos) {
        g.finish_reason = "stop";
        done = true;
      }
      if (on_token && !on_token(i, tok_id, lp)) {
        if (g.finish_reason.empty()) g.finish_reason = "callback";
        done = true;
      }
      if (!done && k + 1 < o.max_new) {
        step_seqs.push_back(&seqs[i]);
        step_tokens.push_back(tok_id);
        step_ids.push_back(i);
      } else if (!done) {
        g.finish_reason = "length";
      }
    }
    alive = step_ids;
    if (alive.empty()) break;
    if (o.kv_cache) {
      model.step(cache, step_seqs, step_tokens, logits.data());  // (M, V), packed
      for (int j = int(alive.size()) - 1; j >= 0; --j)  // unpack to each sequence's slot
        if (alive[j] != j)
          std::copy(logits.begin() + size_t(j) * V, logits.begin() + size_t(j + 1) * V,
                    logits.begin() + size_t(alive[j]) * V);
      res.stats.positions_processed += long(alive.size());
      for (int i : alive) res.stats.flops += flops_per_position(c, long(context[i].size()));
    } else {
      // The baseline: the whole context again, one full parallel pass per sequence.
      for (int i : alive) {
        const int T = int(context[i].size());
        const float* l = model.forward_last(context[i].data(), 1, T);
        std::copy(l, l + V, logits.begin() + size_t(i) * V);
        res.stats.positions_processed += T;
        for (long t = 1; t <= T; ++t) res.stats.flops += flops_per_position(c, t);
      }
    }
    res.stats.forward_passes += 1;
  }
  res.stats.decode_s = seconds_since(t0);
  res.stats.kv_cache_bytes = o.kv_cache ? cache.kv_cache_bytes() : 0;
  for (auto& g : res.sequences) {
    res.stats.new_tokens += int(g.tokens.size());
    if (tok) {
      g.text = tok->decode(g.tokens);
      if (g.finish_reason == "stop") g.text = g.text.substr(0, find_stop(g.text, o.stop));
    }
  }
  return res;
}

}  // namespace tf
