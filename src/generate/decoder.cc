// The decode loop: prefill, then choose, stop and step until every hypothesis has ended. The
// search strategy (search.h) only chooses; everything else is here, once.
#include "generate/decoder.h"

#include <chrono>
#include <cmath>

#include "core/error.h"

namespace tf {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCallback:
      return "callback";
  }
  return "?";
}

size_t find_stop(const std::string& text, const std::vector<std::string>& stop) {
  size_t cut = std::string::npos;
  for (const auto& s : stop) {
    const size_t p = text.find(s);
    if (p != std::string::npos && p < cut) cut = p;
  }
  return cut;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Decoding::Decoding(const Model& model, const Tokenizer* tok, std::span<const int> prompt, const GenerateOptions& o,
                   DecodeHooks hooks)
    : model_(model),
      c_(model.config()),
      tok_(tok),
      prompt_(prompt.begin(), prompt.end()),
      o_(o),
      hooks_(std::move(hooks)),
      search_(make_strategy(o)),
      V_(c_.vocab_size),
      P_(int(prompt.size())),
      max_alive_(search_->max_alive()) {}

// A decoding dropped before its end still gives its rows back (the cache must outlive it).
Decoding::~Decoding() {
  if (!done_)
    for (int b = 0; b < n_alive_; ++b) release(alive_[b]);
}

void Decoding::release(Hypothesis& h) {
  if (cache_ && o_.kv_cache) cache_->release(h.seq.rows);
  h.seq.rows.clear();
}

void Decoding::start(Workspace& ws, KvCache* cache) {
  cache_ = cache;
  res_.stats.prompt_tokens = P_;
  if (tok_) prompt_text_ = tok_->decode(prompt_);
  const auto t0 = std::chrono::steady_clock::now();
  prefill(ws);
  res_.stats.prefill_s = seconds_since(t0);
  decode_start_ = std::chrono::steady_clock::now();
  choose(0);
}

void Decoding::prefill(Workspace& ws) {
  const int n = search_->initial(), K = max_alive_;
  alive_.resize(K);
  next_.resize(K);
  scratch_.resize(K);
  for (auto* set : {&alive_, &next_})
    for (auto& h : *set) {
      h.tokens.reserve(o_.max_new);
      h.logprobs.reserve(o_.max_new);
      h.seq.rows.reserve(P_ + o_.max_new);
    }
  logits_.resize(size_t(K) * V_);
  raw_logp_.resize(size_t(K) * V_);
  const float* l;
  if (o_.kv_cache) {
    l = model_.prefill(ws, *cache_, alive_[0].seq, prompt_);
  } else {
    model_.forward(ws, prompt_.data(), 1, P_);
    l = model_.head_last(ws);
  }
  // Every initial hypothesis starts from the prompt's logits and shares its rows (indices only).
  for (int i = 0; i < n; ++i) {
    alive_[i].id = i;
    if (i > 0) {
      alive_[i].seq.rows = alive_[0].seq.rows;
      if (o_.kv_cache) cache_->retain(alive_[i].seq.rows);
    }
    std::copy(l, l + V_, logits_.begin() + size_t(i) * V_);
  }
  n_alive_ = n;
  res_.stats.positions_processed += P_;
  res_.stats.forward_passes += 1;
  for (long t = 1; t <= P_; ++t) res_.stats.flops += flops_per_position(c_, t);
  if (hooks_.on_pass) hooks_.on_pass(0, ws, std::span<const float>(logits_.data(), size_t(n) * V_));
  if (hooks_.after_pass && o_.kv_cache) hooks_.after_pass(*cache_, alive_[0].seq, 0);
}

void Decoding::prepare(int step) {
#pragma omp parallel for schedule(static) if (n_alive_ > 1)
  for (int b = 0; b < n_alive_; ++b) {
    const Hypothesis& h = alive_[b];
    std::span<float> ls(logits_.data() + size_t(b) * V_, V_);
    log_softmax(ls, std::span<float>(raw_logp_.data() + size_t(b) * V_, V_));  // the model's own
    Scratch& sc = scratch_[b];
    sc.context.assign(prompt_.begin(), prompt_.end());
    sc.context.insert(sc.context.end(), h.tokens.begin(), h.tokens.end());
    apply_penalties(ls, sc.context, o_.penalties, sc.counts);
    if (o_.eos >= 0 && step < o_.min_new) ls[o_.eos] = -INFINITY;
  }
}

// The text the tokens add to the prompt's: decode(prompt + tokens) past decode(prompt). Decoding
// the tokens alone can differ: a sentencepiece decoder (Llama-2) strips the leading space of a
// whole text, which is no text's start here. A model row past the tokenizer's vocabulary (a
// byte-level model with vocab_size 300) spells nothing.
std::string Decoding::continuation(const std::vector<int>& tokens) const {
  std::vector<int> all(prompt_.begin(), prompt_.end());
  for (int t : tokens)
    if (t < tok_->vocab_size()) all.push_back(t);
  std::string text = tok_->decode(all);
  if (text.starts_with(prompt_text_)) return text.substr(prompt_text_.size());
  std::string bytes;  // the decoder rewrote the prompt's text: the tokens' own bytes
  for (int t : tokens) bytes += tok_->token_bytes(t);
  return bytes;
}

// Does the newest token complete a stop string? The parent was checked at its step and held
// none (or was below min_new: the first check reads the whole continuation), so a stop can
// only end in the newest token's text. Decoding a window of the last tokens instead of the
// whole continuation keeps each check O(stop length), not O(output): a long output would
// otherwise cost O(n^2). The window's text equals the continuation's tail when decoding is
// local, which the window's first tokens ensure (a stripped leading space, a byte-fallback
// character cut in half, stay within them); where the window cannot vouch for that (the
// output is short, or the newest token completes a character), the whole continuation decides.
bool Decoding::ends_in_stop(const std::vector<int>& tokens) const {
  const int n = int(tokens.size());
  auto whole = [&] { return find_stop(continuation(tokens), o_.stop) != std::string::npos; };
  if (n - 1 < o_.min_new) return whole();
  size_t longest = 0;
  for (const auto& st : o_.stop) longest = std::max(longest, st.size());
  // Bytes of the window's tail that must be trustworthy, and the slack for its first tokens.
  const size_t keep = longest, slack = 16;
  int j = n - 1;
  for (size_t bytes = 0; j > 0 && bytes < keep + 2 * slack; --j) bytes += tok_->token_bytes(tokens[j - 1]).size();
  if (j == 0) return whole();
  std::vector<int> w;
  for (int i = j; i < n; ++i)
    if (tokens[i] < tok_->vocab_size()) w.push_back(tokens[i]);
  if (w.empty() || tokens.back() >= tok_->vocab_size()) return false;  // the newest spells nothing
  const std::string b = tok_->decode(w);
  w.pop_back();
  const std::string a = tok_->decode(w);
  if (a.size() < keep + slack || !b.starts_with(a)) return whole();
  // The stop's earliest start that can reach the newest text: keep - 1 bytes back.
  const size_t back = keep > 0 ? keep - 1 : 0;
  const std::string tail = b.substr(a.size() - std::min(a.size(), back));
  return find_stop(tail, o_.stop) != std::string::npos;
}

FinishReason Decoding::stop_reason(const Hypothesis& h) const {
  // The EOS logit is banned before min_new tokens, so an EOS here is allowed to end it.
  if (h.tokens.back() == o_.eos) return FinishReason::kEos;
  if (!o_.stop.empty() && int(h.tokens.size()) >= o_.min_new && ends_in_stop(h.tokens)) return FinishReason::kStop;
  return FinishReason::kLength;
}

bool Decoding::walk(int step) {
  choices_.clear();
  search_->choose(step, std::span<const Hypothesis>(alive_.data(), n_alive_),
                  std::span<float>(logits_.data(), size_t(n_alive_) * V_),
                  std::span<const float>(raw_logp_.data(), size_t(n_alive_) * V_), V_, choices_);
  const bool trace = std::holds_alternative<BeamSearch>(o_.search) && std::get<BeamSearch>(o_.search).trace;
  int n_next = 0;
  for (const Choice& ch : choices_) {
    if (!search_->wants_more(n_next)) break;
    const Hypothesis& parent = alive_[ch.parent];
    Hypothesis& h = next_[n_next];  // a slot: assign() reuses its capacity
    h.id = parent.id;
    h.tokens.assign(parent.tokens.begin(), parent.tokens.end());
    h.tokens.push_back(ch.token);
    h.logprobs.assign(parent.logprobs.begin(), parent.logprobs.end());
    h.logprobs.push_back(ch.logprob);
    h.cum = ch.cum;
    h.raw = parent.raw + ch.raw_logprob;
    h.seq.rows.assign(parent.seq.rows.begin(), parent.seq.rows.end());
    if (cache_ && o_.kv_cache) cache_->retain(h.seq.rows);
    FinishReason reason = stop_reason(h);
    bool ended = reason != FinishReason::kLength;
    const int seq = std::holds_alternative<BeamSearch>(o_.search) ? (ended ? -1 : n_next) : h.id;
    if (hooks_.on_token && !hooks_.on_token(seq, ch.token, ch.logprob) && !ended) {
      reason = FinishReason::kCallback;
      ended = true;
    }
    if (trace) {
      const int id = int(res_.beam_tree.size()) + 1;
      res_.beam_tree.push_back(
          {id, parent.node, step + 1, ch.token, ch.cum, ended ? search_->score(ch.cum, h.tokens.size()) : 0.0, ended});
      h.node = id;
    }
    if (ended) {
      release(h);           // its rows are free for others at once
      Hypothesis done = h;  // the slot stays for reuse
      search_->finish(std::move(done), reason);
    } else {
      ++n_next;
    }
  }
  for (int b = 0; b < n_alive_; ++b) release(alive_[b]);  // the parents: their children hold what they need
  std::swap(alive_, next_);
  n_alive_ = n_next;
  return n_alive_ > 0;
}

void Decoding::choose(int step) {
  step_ = step;
  prepare(step);
  if (hooks_.on_choose) hooks_.on_choose(step, std::span<const float>(logits_.data(), size_t(n_alive_) * V_));
  if (!walk(step)) return finish();
  if (search_->done(std::span<const Hypothesis>(alive_.data(), n_alive_))) return finish();
  if (step + 1 == o_.max_new) {  // at max-new, the live hypotheses end by length
    for (int b = 0; b < n_alive_; ++b) {
      release(alive_[b]);
      search_->finish(std::move(alive_[b]), FinishReason::kLength);
    }
    n_alive_ = 0;
    finish();
  }
}

void Decoding::finish() {
  for (int b = 0; b < n_alive_; ++b) release(alive_[b]);
  n_alive_ = 0;
  done_ = true;
  res_.stats.decode_s = seconds_since(decode_start_);
}

void Decoding::cancel() {
  if (done_) return;
  for (int b = 0; b < n_alive_; ++b) {
    release(alive_[b]);
    search_->finish(std::move(alive_[b]), FinishReason::kCallback);
  }
  n_alive_ = 0;
  finish();
}

void Decoding::inputs(std::vector<KvSeq*>& seqs, std::vector<int>& tokens) {
  for (int b = 0; b < live(); ++b) {
    tokens.push_back(alive_[b].tokens.back());
    seqs.push_back(&alive_[b].seq);
  }
}

void Decoding::consume(const Workspace& ws, const float* logits) {
  const int M = n_alive_;
  std::copy(logits, logits + size_t(M) * V_, logits_.begin());
  after_pass(ws, M, M, M * flops_per_position(c_, P_ + step_ + 1));
}

void Decoding::after_pass(const Workspace& ws, int M, long positions, double flops) {
  res_.stats.positions_processed += positions;
  res_.stats.flops += flops;
  res_.stats.forward_passes += 1;
  if (hooks_.on_pass) hooks_.on_pass(step_ + 1, ws, std::span<const float>(logits_.data(), size_t(M) * V_));
  if (hooks_.after_pass && o_.kv_cache) hooks_.after_pass(*cache_, alive_[0].seq, step_ + 1);
  choose(step_ + 1);
}

void Decoding::advance(Workspace& ws) {
  const int M = n_alive_;
  const int T = P_ + step_ + 1;  // every live hypothesis has this context length
  if (o_.kv_cache) {
    tokens_.clear();
    seqs_.clear();
    inputs(seqs_, tokens_);
    model_.step(ws, *cache_, seqs_, tokens_, logits_.data());
    return after_pass(ws, M, M, M * flops_per_position(c_, T));
  }
  // The baseline: each whole context again, M sequences of T in one parallel pass.
  all_tokens_.clear();
  for (int b = 0; b < M; ++b) {
    all_tokens_.insert(all_tokens_.end(), prompt_.begin(), prompt_.end());
    all_tokens_.insert(all_tokens_.end(), alive_[b].tokens.begin(), alive_[b].tokens.end());
  }
  model_.forward(ws, all_tokens_.data(), M, T);
  const float* l = model_.head_last(ws);
  std::copy(l, l + size_t(M) * V_, logits_.begin());
  double flops = 0;
  for (long t = 1; t <= T; ++t) flops += M * flops_per_position(c_, t);
  after_pass(ws, M, long(M) * T, flops);
}

GenerateResult Decoding::result() {
  res_.sequences = search_->results();
  for (auto& g : res_.sequences) {
    res_.stats.new_tokens += int(g.tokens.size());
    if (!tok_) continue;
    g.text = continuation(g.tokens);
    if (g.finish_reason == FinishReason::kStop) g.text = g.text.substr(0, find_stop(g.text, o_.stop));
  }
  return std::move(res_);
}

void check_generate(const Config& c, size_t prompt_tokens, const GenerateOptions& o, bool have_tokenizer) {
  validate(o, c.vocab_size, have_tokenizer);
  if (prompt_tokens == 0) throw UsageError("the prompt is empty");
  if (int(prompt_tokens) + o.max_new > c.n_positions)
    throw Error("prompt (" + std::to_string(prompt_tokens) + " tokens) + max-new (" + std::to_string(o.max_new) +
                ") exceeds the model's n_positions " + std::to_string(c.n_positions));
}

GenerateResult generate(const Model& model, const Tokenizer* tok, std::span<const int> prompt, const GenerateOptions& o,
                        const DecodeHooks& hooks, Workspace* ws) {
  check_generate(model.config(), prompt.size(), o, tok != nullptr);
  Workspace own;
  Workspace& w = ws ? *ws : own;
  // Declared before the decoding, which gives its rows back to it.
  std::unique_ptr<KvCache> cache;
  Decoding d(model, tok, prompt, o, hooks);
  cache = std::make_unique<KvCache>(model.config(), o.kv_cache ? d.rows_needed() + d.max_alive() : 1);
  d.start(w, cache.get());
  while (!d.done()) d.advance(w);
  GenerateResult r = d.result();
  r.stats.kv_cache_bytes = o.kv_cache ? cache->kv_cache_bytes() : 0;
  return r;
}

}  // namespace tf
