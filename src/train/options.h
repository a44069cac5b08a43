// A training run's options: what the command line sets, what a checkpoint stores (as JSON with
// the same strings the flags take) and what a resumed run may change.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/data.h"
#include "train/optimizer.h"

namespace tf {

struct TrainOptions {
  // Paths are stored absolute once a run starts, so that it resumes from any folder.
  std::string data, tokenizer;  // tokenizer: byte | DIR | "" (the --init dir's, else byte)
  std::string out, init, preset, config;
  long steps = 1000;      // 0 with max_time_s > 0: planned from the first steps' speed
  double max_time_s = 0;  // time budget in seconds (0 = none)
  int batch = 8, seq = 128, accum = 1;
  double lr = 1e-3, min_lr = 1e-4;
  long warmup = 0;
  Schedule lr_schedule = Schedule::kCosine;
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1, grad_clip = 1.0;
  uint64_t seed = 1337;
  DataOrder data_order = DataOrder::kSequential;
  double val_fraction = 0.01;
  long eval_every = 100, eval_batches = 8, save_every = 200;
  std::string metrics;  // default: OUT/metrics.jsonl
};
nlohmann::json options_to_json(const TrainOptions& o);
TrainOptions options_from_json(const nlohmann::json& j);  // throws Error for a bad value

// Checks every value (UsageError naming the flag).
void validate_options(const TrainOptions& o);

// The command-line flag of an options_to_json key: "min_lr" -> "--min-lr".
std::string option_flag(const std::string& key);

// The options of a resumed run: the saved ones, with what the command line gave (`given`: the
// options_to_json keys the user set). steps, max_time_s and metrics may change (a new --steps
// without --max-time drops the time budget); data may move to another path, the same bytes
// (the caller checks the fingerprint); every other given option must equal the saved value,
// or UsageError names the flag, the saved and the given value.
TrainOptions resume_options(const TrainOptions& saved, const TrainOptions& cli, const std::vector<std::string>& given);

// path made absolute and lexically normal ("" and "byte" stay as they are).
std::string absolute_path(const std::string& path);

}  // namespace tf
