// Continuous batching: one worker thread decodes every generation request of the server
// together. It owns one KV cache (a pool of rows shared by all requests) and one workspace;
// between two decode steps it admits waiting requests whose rows fit, prefills each new prompt
// in its own parallel pass, and then runs ONE Model::step over the live sequences of all
// requests (greedy, sampled, n choices, beams), so each step reads the weights once for all of
// them. Each request's choices, stopping and RNGs stay its own (generate/decoder.h), and a
// row's logits do not depend on the rows beside it (Model::step), so a request's result is
// exactly the one it gets alone.
//
// Tokens travel to the request's HTTP thread through its Job: the worker only appends to the
// job's buffer, so a slow reader never stalls the batch. A reader that stops a sequence (its
// client hung up) ends it at the next step, and its rows go back to the pool.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "generate/generator.h"

namespace tf {

// One request's generation, shared by the HTTP thread that asked for it and the worker. A
// request with several prompts (an OpenAI prompt array) is one job of several parts, each its own
// decoding in the batch: part p's sequence s is the job's sequence p * stride + s.
class Job {
 public:
  struct Token {
    int seq, token;                          // the job's sequence it extends, the token
    float logprob;                           // of the model's raw distribution (with top_logprobs)
    std::vector<std::pair<int, float>> top;  // the top_logprobs most likely, best first
  };
  // Moves the tokens produced since the last call into out (cleared first), waiting for at
  // least one; false once the generation has ended and every token has been taken.
  bool next(std::vector<Token>& out);
  // Once next() returned false: the result of each part, or the Error one failed with.
  std::vector<GenerateResult> results();
  GenerateResult result() { return std::move(results().at(0)); }
  // The reader wants no more of sequence seq (-1: of any): it ends at the next step.
  void stop(int seq);

 private:
  friend class Batcher;
  bool wants(int seq) const;
  bool hung_up();  // the worker's: whether the reader gave up on it all, or its client hung up
  void push(Token t);
  void end(int part, GenerateResult r, std::string error);

  int top_logprobs_ = -1;       // -1: none
  bool wake_per_token_ = true;  // false: the reader sleeps until the end (fewer wake-ups beside the batch)
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Token> tokens_;
  int running_ = 0;  // parts not ended yet
  bool ended_ = false;
  std::vector<GenerateResult> results_;  // per part
  std::string error_;                    // the first part's error
  std::vector<int> stopped_;             // sequences the reader gave up
  std::atomic<bool> stop_all_{false};    // the reader gave up on all of them
  std::function<bool()> gone_;           // asked by the worker before each step: the client hung up
};

struct BatcherOptions {
  int kv_rows = 4096;    // rows in the shared KV pool
  int max_running = 16;  // requests decoded together at most
};

class Batcher {
 public:
  Batcher(const Model& model, const Tokenizer* tok, const BatcherOptions& o);
  ~Batcher();  // ends every request still queued or running with an error, then the worker
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues a generation (the options as generate() checks them). Throws Error at once when it
  // needs more KV rows than the whole pool holds. A reader that streams wants each token as it
  // comes (stream); one that does not is woken once, at the end: on a machine with few cores,
  // a thread woken per token steals time from the batch's own threads.
  // gone, when given, says whether the client has hung up: the worker asks it before each step
  // (while the job waits, too) and ends the job's sequences when it says so; a reader that
  // waits for the end cannot notice it otherwise.
  std::shared_ptr<Job> submit(std::span<const int> prompt, const GenerateOptions& o, int top_logprobs = -1,
                              bool stream = true, std::function<bool()> gone = {});
  // One job of several prompts with the same options, queued together so that they join the
  // batch together (as far as places and rows allow); part p's sequence s is the job's
  // p * o.num_return() + s.
  std::shared_ptr<Job> submit(const std::vector<std::vector<int>>& prompts, const GenerateOptions& o,
                              int top_logprobs = -1, bool stream = true, std::function<bool()> gone = {});
  // submit, then wait for the result.
  GenerateResult generate(std::span<const int> prompt, const GenerateOptions& o, std::function<bool()> gone = {});
  int kv_rows() const { return o_.kv_rows; }
  // Since the start: decode steps run, sequence-steps they advanced, and the widest step.
  struct Counters {
    long steps, sequences, widest;
  };
  Counters counters() const { return {steps_, sequences_, widest_}; }

 private:
  struct Live;
  void run();  // the worker
  void admit(std::vector<Live*>& fresh);
  void step_all();
  void reap();

  const Model& model_;
  const Tokenizer* tok_;
  const BatcherOptions o_;
  KvCache cache_;                            // touched by the worker only
  Workspace ws_;                             // the worker's
  std::vector<std::unique_ptr<Live>> live_;  // the worker's: requests being decoded
  std::mutex mutex_;                         // guards queue_ and stopping_
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Live>> queue_;  // submitted, waiting for rows or a place
  bool stopping_ = false;
  std::vector<KvSeq*> seqs_;
  std::vector<int> tokens_;
  std::vector<float> logits_;  // (M, V) of the step
  std::atomic<long> steps_{0}, sequences_{0}, widest_{0};
  std::thread worker_;
};

}  // namespace tf
