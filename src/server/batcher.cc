#include "server/batcher.h"

#include <algorithm>

#include "core/error.h"
#include "generate/decoder.h"

namespace tf {

// ---- Job: the HTTP thread's side

bool Job::next(std::vector<Token>& out) {
  out.clear();
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [&] { return !tokens_.empty() || ended_; });
  if (tokens_.empty()) return false;
  out.assign(std::make_move_iterator(tokens_.begin()), std::make_move_iterator(tokens_.end()));
  tokens_.clear();
  return true;
}

std::vector<GenerateResult> Job::results() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_.empty()) throw Error(error_);
  return std::move(results_);
}

void Job::stop(int seq) {
  if (seq < 0) {
    stop_all_ = true;
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_.push_back(seq);
}

// ---- Job: the worker's side

bool Job::wants(int seq) const {
  if (stop_all_) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  return std::find(stopped_.begin(), stopped_.end(), seq) == stopped_.end();
}

bool Job::hung_up() {
  if (!stop_all_ && gone_ && gone_()) stop_all_ = true;
  return stop_all_;
}

void Job::push(Token t) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tokens_.push_back(std::move(t));
  }
  if (wake_per_token_) ready_.notify_one();
}

void Job::end(int part, GenerateResult r, std::string error) {
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    results_.at(part) = std::move(r);
    if (error_.empty()) error_ = std::move(error);
    last = ended_ = --running_ == 0;
  }
  if (last) ready_.notify_all();
}

// ---- Batcher

// A request on the worker: its decoding and what its hooks need.
struct Batcher::Live {
  std::shared_ptr<Job> job;
  int part = 0, base = 0;  // its part of the job, and the job's number of its sequence 0
  std::unique_ptr<Decoding> dec;
  std::vector<std::vector<float>> logp;  // with top_logprobs: the last pass's raw log-probs, a row per sequence
  size_t next_row = 0;                   // the row of the next token (one choice per live sequence, in order)
  std::string error;                     // set when it failed
};

Batcher::Batcher(const Model& model, const Tokenizer* tok, const BatcherOptions& o)
    : model_(model), tok_(tok), o_(o), cache_(model.config(), o.kv_rows), worker_([this] { run(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

std::shared_ptr<Job> Batcher::submit(std::span<const int> prompt, const GenerateOptions& o, int top_logprobs,
                                     bool stream, std::function<bool()> gone) {
  return submit(std::vector<std::vector<int>>{std::vector<int>(prompt.begin(), prompt.end())}, o, top_logprobs, stream,
                std::move(gone));
}

std::shared_ptr<Job> Batcher::submit(const std::vector<std::vector<int>>& prompts, const GenerateOptions& o,
                                     int top_logprobs, bool stream, std::function<bool()> gone) {
  const Config& c = model_.config();
  auto job = std::make_shared<Job>();
  job->gone_ = std::move(gone);
  job->top_logprobs_ = top_logprobs;
  job->wake_per_token_ = stream;
  job->running_ = int(prompts.size());
  job->results_.resize(prompts.size());
  std::vector<std::unique_ptr<Live>> parts;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int>& prompt = prompts[p];
    check_generate(c, prompt.size(), o, tok_ != nullptr);
    auto live = std::make_unique<Live>();
    live->job = job;
    live->part = int(p);
    live->base = int(p) * o.num_return();
    Live* l = live.get();  // stable: the worker owns it until the job ends
    DecodeHooks hooks;
    const int V = c.vocab_size, K = top_logprobs;
    if (K >= 0)
      hooks.on_pass = [l, V](int, const Workspace&, std::span<const float> logits) {
        const size_t M = logits.size() / V;
        l->logp.resize(M);
        for (size_t b = 0; b < M; ++b) {
          l->logp[b].assign(logits.begin() + long(b * V), logits.begin() + long((b + 1) * V));
          log_softmax(std::span<float>(l->logp[b]), std::span<float>(l->logp[b]));
        }
        l->next_row = 0;
      };
    hooks.on_token = [l, V, K](int seq, int token, float) {
      if (seq >= 0) seq += l->base;  // beams' -1 (a token that ended its hypothesis) stays
      Job::Token t{seq, token, 0, {}};
      if (K >= 0) {
        const std::vector<float>& lp = l->logp.at(l->next_row++);
        t.logprob = lp[token];
        std::vector<int> idx(V);
        for (int v = 0; v < V; ++v) idx[v] = v;
        std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [&](int a, int b) { return lp[a] > lp[b]; });
        for (int i = 0; i < K; ++i) t.top.push_back({idx[i], lp[idx[i]]});
      }
      const bool wanted = l->job->wants(seq);
      l->job->push(std::move(t));
      return wanted;
    };
    live->dec = std::make_unique<Decoding>(model_, tok_, prompt, o, std::move(hooks));
    const int need = live->dec->rows_needed();
    if (need > o_.kv_rows)
      throw Error("this request needs " + std::to_string(need) + " KV-cache rows (prompt " +
                  std::to_string(prompt.size()) + " + " + std::to_string(live->dec->max_alive()) + " sequences x " +
                  std::to_string(o.max_new - 1) + " steps); the server's pool holds " + std::to_string(o_.kv_rows) +
                  " (serve --kv-rows)");
    parts.push_back(std::move(live));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw Error("the server is stopping");
    for (auto& live : parts) queue_.push_back(std::move(live));
  }
  wake_.notify_one();
  return job;
}

GenerateResult Batcher::generate(std::span<const int> prompt, const GenerateOptions& o, std::function<bool()> gone) {
  auto job = submit(prompt, o, -1, false, std::move(gone));
  std::vector<Job::Token> tokens;
  while (job->next(tokens)) {
  }
  return job->result();
}

// Under mutex_: waiting requests join in order while the batch has a place and the pool has
// their rows, counting the rows the running requests may still take (a request that started
// never runs out of rows). A request that does not fit waits, and the ones behind it too.
void Batcher::admit(std::vector<Live*>& fresh) {
  long to_come = 0;
  for (const auto& l : live_) to_come += l->dec->rows_to_come();
  while (!queue_.empty() && int(live_.size()) < o_.max_running) {
    Live& q = *queue_.front();
    if (!q.job->hung_up() && cache_.free_rows() - to_come < q.dec->rows_needed()) break;
    to_come += q.dec->rows_needed();
    fresh.push_back(&q);
    live_.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

// One Model::step over the live sequences of every request, each request's rows of logits
// back to its decoding.
void Batcher::step_all() {
  seqs_.clear();
  tokens_.clear();
  std::vector<std::pair<Live*, size_t>> part;  // a request and its first row
  for (auto& l : live_) {
    if (l->job->hung_up()) l->dec->cancel();  // its client hung up: its rows go back now
    if (l->dec->done()) continue;
    part.push_back({l.get(), seqs_.size()});
    l->dec->inputs(seqs_, tokens_);
  }
  if (seqs_.empty()) return;
  const size_t V = model_.config().vocab_size;
  logits_.resize(seqs_.size() * V);
  ++steps_;
  sequences_ += long(seqs_.size());
  widest_ = std::max(widest_.load(), long(seqs_.size()));
  try {
    model_.step(ws_, cache_, seqs_, tokens_, logits_.data());
  } catch (const std::exception& e) {
    for (auto& p : part) {
      Live* l = p.first;
      l->dec->cancel();
      l->error = e.what();
    }
    return;
  }
  for (auto& [l, first] : part) {
    try {
      l->dec->consume(ws_, logits_.data() + first * V);
    } catch (const std::exception& e) {
      l->dec->cancel();
      l->error = e.what();
    }
  }
}

// Requests that ended leave the batch with their result.
void Batcher::reap() {
  const size_t row_bytes = kv_cache_row_bytes(model_.config());
  for (auto& l : live_) {
    if (!l->dec->done()) continue;
    if (l->error.empty()) {
      try {  // the text (a model may emit an id its tokenizer cannot decode)
        GenerateResult r = l->dec->result();
        r.stats.kv_cache_bytes = size_t(l->dec->rows_needed()) * row_bytes;  // what it reserved of the pool
        l->job->end(l->part, std::move(r), "");
      } catch (const std::exception& e) {
        l->error = e.what();
      }
    }
    if (!l->error.empty()) l->job->end(l->part, {}, l->error);
    l.reset();
  }
  std::erase(live_, nullptr);
}

void Batcher::run() {
  for (;;) {
    std::vector<Live*> fresh;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !live_.empty() || !queue_.empty(); });
      if (stopping_) break;
      admit(fresh);
    }
    // New prompts, each in its own parallel pass, between two steps; their first tokens are
    // chosen from it at once.
    for (Live* l : fresh) {
      if (l->job->stop_all_) {
        l->dec->cancel();
        continue;
      }
      try {
        l->dec->start(ws_, &cache_);
      } catch (const std::exception& e) {
        l->dec->cancel();
        l->error = e.what();
      }
    }
    step_all();
    reap();
  }
  for (auto& l : live_) {
    l->dec->cancel();
    l->job->end(l->part, {}, "the server is stopping");
  }
  live_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& l : queue_) l->job->end(l->part, {}, "the server is stopping");
  queue_.clear();
}

}  // namespace tf
