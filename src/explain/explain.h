// The training-vs-inference walkthrough. Every number comes out of the engine: a word-level
// toy GPT (d = 4, one block) trained in training mode on one sentence, then run in inference
// mode from a prompt, with the proof that h_t from the parallel pass equals h_t from the
// cached steps. The same JSON feeds `tformer explain` and the web page.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "generate/generator.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tf {

inline constexpr const char* kExampleSentence = "I love deep learning and AI research !";

struct ToyOptions {
  std::string sentence = kExampleSentence;
  std::string prompt = "I love";
  int new_tokens = 3;
  int train_steps = 300;
  uint64_t seed = 7;
  GenerateOptions gen;  // strategy and processors for the inference walkthrough (greedy default)
  // Called after each training step with the step (from 1) and its loss: the page's live curve.
  std::function<void(int step, double loss)> on_train_step;
};

// The toy model and its word vocabulary, trained on the sentence in training mode.
struct Toy {
  std::vector<std::string> vocab;
  std::vector<int> sentence;  // ids
  std::unique_ptr<Model> model;
  std::vector<double> loss_curve;  // one value per training step
};
// The toy's word-level tokenizer: words split on whitespace, each word one token; a token's
// bytes are " word", so decoding joins words with spaces (lossy for other whitespace, by design).
class WordTokenizer final : public Tokenizer {
 public:
  explicit WordTokenizer(std::vector<std::string> vocab);
  std::vector<int> encode(std::string_view text) const override;  // UsageError for unknown words
  const std::string& token_bytes(int id) const override {
    return id >= 0 && id < int(bytes_.size()) ? bytes_[id] : no_bytes();
  }
  int vocab_size() const override { return int(bytes_.size()); }
  TokenizerKind kind() const override { return TokenizerKind::kWords; }

 private:
  std::vector<std::string> vocab_, bytes_;
};

// Throws UsageError for an empty sentence, a prompt word not in the sentence, or a length past
// the toy's n_positions.
Toy build_toy(const ToyOptions& o);
std::vector<int> toy_encode(const Toy& toy, const std::string& text);

// Called after each inference step with the cache, the sequence and the step (from 1).
using CacheHook = std::function<void(KvCache&, const KvSeq&, int step)>;

struct ModelWalkOptions {
  std::string truth;         // ground-truth continuation of the prompt (teacher-forced vs free-running)
  std::string truth_source;  // where it came from: "given", "validation text"
  // Test-only: lets a test corrupt the KV cache between steps, to prove that the h_t check
  // reports a broken cache as DIFFERENT (explain_test.cc). Nothing else sets it.
  CacheHook after_step;
};

// The walkthrough of the toy (see docs/explain.md for every field).
nlohmann::json explain_toy(const ToyOptions& o);
// The same walkthrough on a real model: training-mode pass over prompt + generated text, the
// inference steps, the h_t check, per layer and head attention.
nlohmann::json explain_model(const Model& model, const Tokenizer& tok, const std::string& prompt, int new_tokens,
                             const GenerateOptions& gen, const ModelWalkOptions& walk = {});

}  // namespace tf
