// Training mode end to end: teacher forcing over the documented batch order, gradient
// accumulation, clipping, the schedule, periodic validation and atomic checkpoints that resume
// bit-identically at the same thread count.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"
#include "train/optimizer.h"

namespace tf {

struct TrainOptions {
  std::string data, tokenizer;  // tokenizer: byte | DIR | "" (the --init dir's, else byte)
  std::string out, init, preset, config;
  long steps = 1000;
  int batch = 8, seq = 128, accum = 1;
  double lr = 1e-3, min_lr = 1e-4;
  long warmup = 0;
  std::string lr_schedule = "cosine", optimizer = "adamw";
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1, grad_clip = 1.0;
  uint64_t seed = 1337;
  std::string data_order = "sequential";
  double val_fraction = 0.01;
  long eval_every = 100, eval_batches = 8, save_every = 200;
  std::string metrics;  // default: OUT/metrics.jsonl
};
nlohmann::json options_to_json(const TrainOptions& o);
TrainOptions options_from_json(const nlohmann::json& j);

struct StepReport {
  long step = 0, steps = 0;  // steps completed, from 1
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_second = 0, elapsed_s = 0;
  std::optional<double> val_loss;
};

class Trainer {
 public:
  // A new run (resume = false) or the run saved in opt.out (resume = true; opt.steps and the
  // metrics path may differ from the saved run, every other option comes from the checkpoint).
  Trainer(TrainOptions opt, bool resume);
  // Runs to opt.steps. Stops early, after saving, when *stop becomes true (Ctrl-C).
  // Returns the steps completed.
  long run(const std::function<void(const StepReport&)>& on_step, const std::atomic<bool>* stop);
  // One optimizer step over accum micro-batches; returns the mean loss.
  double train_step(long s, double* grad_norm);
  double val_loss();
  Model& model() { return *model_; }
  const TrainOptions& options() const { return opt_; }
  long start_step() const { return start_step_; }

 private:
  void save(long step);
  TrainOptions opt_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::string tokenizer_dir_;  // copied into OUT when BPE
  std::vector<int> tokens_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Optimizer> optim_;
  std::vector<int> inputs_, targets_;
  Workspace ws_;              // the training steps' activations
  std::vector<float> grads_;  // laid out as the parameters
  long start_step_ = 0;
};

}  // namespace tf
