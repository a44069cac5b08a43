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
#include "train/options.h"

namespace tf {

struct StepReport {
  long step = 0, steps = 0;  // steps completed, from 1; steps = 0 while a time budget's plan is pending
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_second = 0, elapsed_s = 0;
  std::optional<double> val_loss;
  // The validation loss in bits per byte of the validation text: val_loss · tokens / bytes / ln 2,
  // comparable between a byte-level and a BPE run.
  std::optional<double> val_bpb;
  double eta_s = 0;  // to the planned end
};

enum class StopReason { kDone, kInterrupted, kTimeUp };
struct RunResult {
  long steps = 0;    // completed, the last one saved
  long planned = 0;  // the planned steps (opt.steps)
  StopReason why = StopReason::kDone;
  double elapsed_s = 0;  // this invocation's training time
};

class Trainer {
 public:
  // A new run (resume = false) or the run saved in opt.out (resume = true): `given` names the
  // options the user set (options_to_json keys), checked against the saved ones by
  // resume_options(). Before allocating, refuses (Error) a run whose estimated memory
  // (memory.h) exceeds what the machine has available.
  Trainer(TrainOptions opt, bool resume, const std::vector<std::string>& given = {});
  // Runs to opt.steps. With a time budget (max_time_s) and no plan yet, the steps are planned
  // from the speed of the first steps (5% of the budget) so that the run, its evaluations and
  // saves fit the budget, and revised at 25%, 50% and 75% of it from the speed since the last
  // plan; the cosine schedule follows the plan. The run also stops, saved, when the budget
  // would run out before the next step. Stops early, after saving, when *stop becomes true
  // (Ctrl-C).
  RunResult run(const std::function<void(const StepReport&)>& on_step, const std::atomic<bool>* stop);
  // One optimizer step over accum micro-batches; returns the mean loss.
  double train_step(long s, double* grad_norm);
  double val_loss();
  Model& model() { return *model_; }
  const TrainOptions& options() const { return opt_; }
  long start_step() const { return start_step_; }

 private:
  void save(long step, double elapsed_s);
  // Steps that fit in budget_s seconds from step `done` on, at step_s a step (which may already
  // include the periodic evaluations and saves), the final evaluation and save reserved.
  long plan_steps(long done, double step_s, double budget_s, bool overhead_included) const;
  // --warmup, capped at half the planned steps when a time budget planned them: a plan shorter
  // than the warm-up would otherwise never reach --lr nor decay.
  long warmup() const;
  double eval_seconds(double step_s) const;
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
  double spent_s_ = 0;              // training time of earlier invocations (state.json)
  double save_s_ = 0;               // the last save's duration
  double eval_s_ = -1;              // the last validation's duration (-1: none yet)
  double val_bytes_per_token_ = 1;  // of the validation text
};

}  // namespace tf
