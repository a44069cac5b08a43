// The decode loop's state for one request, as an object that can be stepped from outside:
// generate() drives one alone (generator.h); the server's batcher drives many at once, running
// one Model::step over the live sequences of all of them. Everything but the pass itself is
// here, once: the prefill, the penalties, the strategy's choices (each sampled sequence with its
// own RNG), stopping (EOS, stop strings, max-new, the callback), statistics and text.
//
//   Decoding d(model, tok, prompt, options, hooks);
//   d.start(ws, &cache);              // the prompt's parallel pass, then the first choices
//   while (!d.done()) {
//     d.inputs(seqs, tokens);         // the live sequences and the token each feeds
//     model.step(ws, cache, seqs, tokens, logits);   // (batched with other requests' rows)
//     d.consume(ws, logits);          // those rows of logits: the next choices
//   }
//   GenerateResult r = d.result();
//
// KV rows: each live hypothesis holds one reference on each of its rows (kv_cache.h); a
// hypothesis that ends gives its references back at once, so a finished sequence's rows are
// free for other requests while its siblings go on.
#pragma once
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "generate/search.h"

namespace tf {

class Decoding {
 public:
  Decoding(const Model& model, const Tokenizer* tok, std::span<const int> prompt, const GenerateOptions& o,
           DecodeHooks hooks = {});
  Decoding(const Decoding&) = delete;
  Decoding& operator=(const Decoding&) = delete;
  ~Decoding();

  // The most rows of a KV cache this decoding can hold at once: the prompt's, plus one per
  // live hypothesis at each later step.
  int rows_needed() const { return P_ + max_alive_ * (o_.max_new - 1); }
  int max_alive() const { return max_alive_; }  // the most hypotheses a step advances
  // The most rows the steps still to come may take (0 once done).
  int rows_to_come() const { return done_ ? 0 : max_alive_ * (o_.max_new - 1 - step_); }

  // The prompt's parallel pass (its K/V into cache; without o.kv_cache, cache is unused and
  // may be null), then the first choices.
  void start(Workspace& ws, KvCache* cache);
  bool done() const { return done_; }
  // How many sequences the next step advances.
  int live() const { return done_ ? 0 : n_alive_; }
  // Appends the live sequences and the token each feeds to the next step.
  void inputs(std::vector<KvSeq*>& seqs, std::vector<int>& tokens);
  // The next step's logits (live(), V), rows in inputs()' order, computed by the caller with
  // ws: the next choices.
  void consume(const Workspace& ws, const float* logits);
  // The next step alone: one Model::step over this decoding's sequences (or, without the KV
  // cache, one parallel pass over each whole context: the baseline), then consume.
  void advance(Workspace& ws);
  // Ends the decoding now (the caller gives up: a client that hung up); its rows are freed.
  void cancel();
  // Once done: the sequences, best first, with their text, and the statistics.
  GenerateResult result();

 private:
  void prefill(Workspace& ws);
  void choose(int step);   // prepare and walk step's logits; may end it
  void prepare(int step);  // penalties and the min-new EOS ban, raw log-probs
  bool walk(int step);     // the choices become next_; false when nothing is alive
  void after_pass(const Workspace& ws, int M, long positions, double flops);
  void finish();                                        // done: the live hypotheses' rows go back
  void release(Hypothesis& h);                          // its references on the cache's rows
  FinishReason stop_reason(const Hypothesis& h) const;  // kLength: it goes on
  std::string continuation(const std::vector<int>& tokens) const;
  bool ends_in_stop(const std::vector<int>& tokens) const;  // a stop string ends in the newest token

  const Model& model_;
  const Config& c_;
  const Tokenizer* tok_;
  std::vector<int> prompt_;
  GenerateOptions o_;
  DecodeHooks hooks_;
  std::unique_ptr<SearchStrategy> search_;
  const int V_, P_, max_alive_;
  KvCache* cache_ = nullptr;
  GenerateResult res_;
  // alive_ and next_ are swapped after each step; slots keep their capacity between steps.
  std::vector<Hypothesis> alive_, next_;
  int n_alive_ = 0, step_ = 0;  // step_: the step whose pass is awaited
  bool done_ = false;
  std::chrono::steady_clock::time_point decode_start_;
  std::vector<float> logits_, raw_logp_;  // (M, V)
  std::vector<Choice> choices_;
  struct Scratch {
    std::vector<int> context, counts;
  };
  std::vector<Scratch> scratch_;  // per live hypothesis, so they are prepared in parallel
  std::vector<int> tokens_, all_tokens_;
  std::string prompt_text_;  // decode(prompt), for continuation()
  std::vector<KvSeq*> seqs_;
};

}  // namespace tf
