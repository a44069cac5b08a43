// The decode loop: prefill, then choose, stop and step until every hypothesis has ended. The
// search strategy (search.h) only chooses; everything else is here, once.
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "generate/search.h"

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

// The loop's state for one generate() call.
class Decoder {
 public:
  Decoder(const Model& model, const Tokenizer* tok, std::span<const int> prompt, const GenerateOptions& o,
          const DecodeHooks& hooks, Workspace& ws)
      : model_(model),
        c_(model.config()),
        tok_(tok),
        prompt_(prompt),
        o_(o),
        hooks_(hooks),
        ws_(ws),
        search_(make_strategy(o)),
        V_(c_.vocab_size),
        P_(int(prompt.size())),
        cache_(c_, o.kv_cache ? P_ + search_->max_alive() * o.max_new : 1) {}

  GenerateResult run();

 private:
  void prefill();
  void prepare(int step);                               // penalties and the min-new EOS ban, raw log-probs
  bool walk(int step);                                  // the choices become next_; false when nothing is alive
  void advance(int step);                               // one pass over every live hypothesis
  FinishReason stop_reason(const Hypothesis& h) const;  // kLength: it goes on
  std::string continuation(const std::vector<int>& tokens) const;

  const Model& model_;
  const Config& c_;
  const Tokenizer* tok_;
  std::span<const int> prompt_;
  const GenerateOptions& o_;
  const DecodeHooks& hooks_;
  Workspace& ws_;
  std::unique_ptr<SearchStrategy> search_;
  const int V_, P_;
  KvCache cache_;
  GenerateResult res_;
  // alive_ and next_ are swapped after each step; slots keep their capacity between steps.
  std::vector<Hypothesis> alive_, next_;
  int n_alive_ = 0;
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

void Decoder::prefill() {
  const int n = search_->initial(), K = search_->max_alive();
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
    l = model_.prefill(ws_, cache_, alive_[0].seq, prompt_);
  } else {
    model_.forward(ws_, prompt_.data(), 1, P_);
    l = model_.head_last(ws_);
  }
  // Every initial hypothesis starts from the prompt's logits and shares its rows (indices only).
  for (int i = 0; i < n; ++i) {
    alive_[i].id = i;
    alive_[i].seq.rows = alive_[0].seq.rows;
    std::copy(l, l + V_, logits_.begin() + size_t(i) * V_);
  }
  n_alive_ = n;
  res_.stats.positions_processed += P_;
  res_.stats.forward_passes += 1;
  for (long t = 1; t <= P_; ++t) res_.stats.flops += flops_per_position(c_, t);
  if (hooks_.on_pass) hooks_.on_pass(0, ws_, std::span<const float>(logits_.data(), size_t(n) * V_));
  if (hooks_.after_pass && o_.kv_cache) hooks_.after_pass(cache_, alive_[0].seq, 0);
}

void Decoder::prepare(int step) {
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
std::string Decoder::continuation(const std::vector<int>& tokens) const {
  std::vector<int> all(prompt_.begin(), prompt_.end());
  for (int t : tokens)
    if (t < tok_->vocab_size()) all.push_back(t);
  std::string text = tok_->decode(all);
  if (text.starts_with(prompt_text_)) return text.substr(prompt_text_.size());
  std::string bytes;  // the decoder rewrote the prompt's text: the tokens' own bytes
  for (int t : tokens) bytes += tok_->token_bytes(t);
  return bytes;
}

FinishReason Decoder::stop_reason(const Hypothesis& h) const {
  // The EOS logit is banned before min_new tokens, so an EOS here is allowed to end it.
  if (h.tokens.back() == o_.eos) return FinishReason::kEos;
  if (!o_.stop.empty() && int(h.tokens.size()) >= o_.min_new &&
      find_stop(continuation(h.tokens), o_.stop) != std::string::npos)
    return FinishReason::kStop;
  return FinishReason::kLength;
}

bool Decoder::walk(int step) {
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
      Hypothesis done = h;  // the slot stays for reuse
      search_->finish(std::move(done), reason);
    } else {
      ++n_next;
    }
  }
  std::swap(alive_, next_);
  n_alive_ = n_next;
  return n_alive_ > 0;
}

void Decoder::advance(int step) {
  const int M = n_alive_;
  tokens_.clear();
  seqs_.clear();
  for (int b = 0; b < M; ++b) {
    tokens_.push_back(alive_[b].tokens.back());
    seqs_.push_back(&alive_[b].seq);
  }
  const int T = P_ + step + 1;  // every live hypothesis has this context length
  if (o_.kv_cache) {
    model_.step(ws_, cache_, seqs_, tokens_, logits_.data());
    res_.stats.positions_processed += M;
    res_.stats.flops += M * flops_per_position(c_, T);
  } else {
    // The baseline: each whole context again, M sequences of T in one parallel pass.
    all_tokens_.clear();
    for (int b = 0; b < M; ++b) {
      all_tokens_.insert(all_tokens_.end(), prompt_.begin(), prompt_.end());
      all_tokens_.insert(all_tokens_.end(), alive_[b].tokens.begin(), alive_[b].tokens.end());
    }
    model_.forward(ws_, all_tokens_.data(), M, T);
    const float* l = model_.head_last(ws_);
    std::copy(l, l + size_t(M) * V_, logits_.begin());
    res_.stats.positions_processed += long(M) * T;
    for (long t = 1; t <= T; ++t) res_.stats.flops += M * flops_per_position(c_, t);
  }
  res_.stats.forward_passes += 1;
  if (hooks_.on_pass) hooks_.on_pass(step + 1, ws_, std::span<const float>(logits_.data(), size_t(M) * V_));
  if (hooks_.after_pass && o_.kv_cache) hooks_.after_pass(cache_, alive_[0].seq, step + 1);
}

GenerateResult Decoder::run() {
  res_.stats.prompt_tokens = P_;
  if (tok_) prompt_text_ = tok_->decode(prompt_);
  auto t0 = std::chrono::steady_clock::now();
  prefill();
  res_.stats.prefill_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < o_.max_new; ++k) {
    prepare(k);
    if (!walk(k)) break;
    if (search_->done(std::span<const Hypothesis>(alive_.data(), n_alive_))) break;
    if (k + 1 == o_.max_new) {  // at max-new, the live hypotheses end by length
      for (int b = 0; b < n_alive_; ++b) search_->finish(std::move(alive_[b]), FinishReason::kLength);
      break;
    }
    advance(k);
  }
  res_.stats.decode_s = seconds_since(t0);
  res_.stats.kv_cache_bytes = o_.kv_cache ? cache_.kv_cache_bytes() : 0;
  res_.sequences = search_->results();
  for (auto& g : res_.sequences) {
    res_.stats.new_tokens += int(g.tokens.size());
    if (!tok_) continue;
    g.text = continuation(g.tokens);
    if (g.finish_reason == FinishReason::kStop) g.text = g.text.substr(0, find_stop(g.text, o_.stop));
  }
  return std::move(res_);
}

}  // namespace

GenerateResult generate(const Model& model, const Tokenizer* tok, std::span<const int> prompt, const GenerateOptions& o,
                        const DecodeHooks& hooks, Workspace* ws) {
  const Config& c = model.config();
  validate(o, c.vocab_size, tok != nullptr);
  if (prompt.empty()) throw UsageError("the prompt is empty");
  if (int(prompt.size()) + o.max_new > c.n_positions)
    throw Error("prompt (" + std::to_string(prompt.size()) + " tokens) + max-new (" + std::to_string(o.max_new) +
                ") exceeds the model's n_positions " + std::to_string(c.n_positions));
  Workspace own;
  return Decoder(model, tok, prompt, o, hooks, ws ? *ws : own).run();
}

}  // namespace tf
