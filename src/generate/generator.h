// Inference mode: autoregressive generation. One decode loop (decoder.h) prefills the prompt
// in one parallel pass that fills the KV cache, then advances every live hypothesis by one
// cached step (or, with kv_cache = false, one full parallel pass over each context: the
// baseline the cache beats). A search strategy (search.h: greedy, sampling, beam) only turns
// each step's logits into choices; stopping, statistics and text belong to the loop.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "generate/options.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tf {

enum class FinishReason { kEos, kStop, kLength, kCallback };
const char* finish_reason_name(FinishReason r);  // "eos" | "stop" | "length" | "callback"

// One node of the search tree (recorded for beam search with BeamSearch::trace): node 0 is the
// prompt; every hypothesis a step kept or finished is a node whose parent it continues.
struct BeamNode {
  int id, parent, step, token;
  double cum_logprob, score;  // score: length-normalised, for finished nodes
  bool finished;
};

struct GeneratedSequence {
  std::vector<int> tokens;      // generated tokens (the EOS included when it ended one)
  std::vector<float> logprobs;  // per generated token, of the processed distribution
  double logprob = 0;           // Σ over generated tokens of the log-softmax of the raw logits
  double score = 0;             // beam: cumulative log-prob / length^length_penalty; else Σ logprobs
  FinishReason finish_reason = FinishReason::kLength;
  std::string text;  // decoded, cut before a stop string (empty without tokenizer)
};

struct GenerateStats {
  int prompt_tokens = 0, new_tokens = 0;
  long positions_processed = 0;  // token positions run through the model
  long forward_passes = 0;       // prefill/full passes plus cached steps
  double flops = 0;              // of the positions processed (flops_per_position)
  double prefill_s = 0, decode_s = 0;
  size_t kv_cache_bytes = 0;
};

struct GenerateResult {
  std::vector<GeneratedSequence> sequences;
  GenerateStats stats;
  std::vector<BeamNode> beam_tree;  // with BeamSearch::trace
};

// Called for each token as it is chosen, with the sequence it extends (greedy and sampling: the
// sample's index; beam search: the hypothesis' slot in the next step, -1 when the token ended
// it). Returning false stops that sequence (finish reason "callback").
using OnToken = std::function<bool(int seq, int token, float logprob)>;
// Called after the prefill (step 0) and after every later pass with the caller's workspace
// (the pass's hidden states) and the raw logits (M, V) of the M live hypotheses: the explainer
// watches the loop through it.
using OnPass = std::function<void(int step, const Workspace& ws, std::span<const float> logits)>;
// Called at each step before the strategy chooses, with the logits (M, V) it chooses from: the
// pass's, after the penalties and the min-new EOS ban. The explainer shows the sampler on them.
using OnChoose = std::function<void(int step, std::span<const float> logits)>;

struct DecodeHooks {
  OnToken on_token;
  OnPass on_pass;
  OnChoose on_choose;
  // Test-only: after each cached pass, the cache and the first live sequence, so that a test
  // can corrupt the cache and prove the explainer's h_t check reports it (explain_test.cc).
  std::function<void(KvCache& cache, const KvSeq& seq, int step)> after_pass;
};

// Throws the error that generate() would for these options and prompt length (bad options, an
// empty prompt, prompt + max-new beyond n_positions).
void check_generate(const Config& c, size_t prompt_tokens, const GenerateOptions& o, bool have_tokenizer);

// Generates from prompt with the model; ws is the caller's (a fresh one when null). One
// Decoding (decoder.h) stepped alone.
GenerateResult generate(const Model& model, const Tokenizer* tok, std::span<const int> prompt, const GenerateOptions& o,
                        const DecodeHooks& hooks = {}, Workspace* ws = nullptr);

// Does the generated text contain a stop string? Returns the cut position (npos: no).
size_t find_stop(const std::string& text, const std::vector<std::string>& stop);

}  // namespace tf
