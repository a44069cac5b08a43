// Inference mode: autoregressive generation. The prompt is prefilled in one parallel pass that
// fills the KV cache; each new token is one cached step (or, with kv_cache = false, one full
// parallel pass over the whole context, the baseline the cache beats). Greedy, sampling and
// beam search share the processors of processors.h.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "generate/processors.h"
#include "model/gpt.h"
#include "tokenizer/tokenizer.h"

namespace tf {

enum class Strategy { kGreedy, kSample, kBeam };

struct GenerateOptions {
  Strategy strategy = Strategy::kGreedy;
  int max_new = 32;
  int min_new = 0;          // EOS (and stop strings) cannot end a sequence before this
  int eos = -1;             // -1: none
  std::vector<std::string> stop;  // stop strings (need a tokenizer)
  uint64_t seed = 0;        // sample i of num_return draws from Rng(seed + i)
  int beams = 4;
  float length_penalty = 1.0f;
  bool early_stopping = false;
  int num_return = 1;
  bool kv_cache = true;
  bool trace_beams = false;  // record the beam tree (GenerateResult::beam_tree)
  ProcessorOptions proc;
};

// One node of the beam tree: node 0 is the prompt; every alive or finished hypothesis of a
// step is a node whose parent is the hypothesis it continues.
struct BeamNode {
  int id, parent, step, token;
  double cum_logprob, score;  // score: length-normalised, for finished nodes
  bool finished;
};

struct GeneratedSequence {
  std::vector<int> tokens;    // generated tokens (the EOS included when it ended one)
  std::vector<float> logprobs;  // per generated token, of the processed distribution
  double logprob = 0;         // Σ over generated tokens of the log-softmax of the raw logits
  double score = 0;           // beam: cumulative log-prob / length^length_penalty; else Σ logprobs
  std::string finish_reason;  // "eos" | "stop" | "length"
  std::string text;           // decoded, cut before a stop string (empty without tokenizer)
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
  std::vector<BeamNode> beam_tree;  // with trace_beams
};

// Called for each token as it is chosen (greedy and sampling; beam search reports only at the
// end). Returning false stops that sequence.
using OnToken = std::function<bool(int seq, int token, float logprob)>;

void validate(const GenerateOptions& o, int vocab_size, bool has_tokenizer);
GenerateResult generate(Gpt& model, const Tokenizer* tok, std::span<const int> prompt,
                        const GenerateOptions& o, const OnToken& on_token = nullptr);
// Beam search (beam.cc); called by generate().
GenerateResult beam_search(Gpt& model, const Tokenizer* tok, std::span<const int> prompt,
                           const GenerateOptions& o);

// Shared by both: does the generated text contain a stop string? Returns the cut position.
size_t find_stop(const std::string& text, const std::vector<std::string>& stop);

}  // namespace tf
