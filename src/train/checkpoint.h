// Training checkpoints. The --out folder is an ordinary HF model directory (config.json and
// model.safetensors at its top) plus tformer_state/, which holds what resuming needs:
//   tformer_state/model.safetensors      the weights (the same as the top-level file)
//   tformer_state/optimizer.safetensors  AdamW's m and v, flat ("adam.m", "adam.v")
//   tformer_state/state.json             step, the run's options, the data fingerprint
// A save writes tformer_state.new/ completely (every file fsync'ed), then swaps it in with two
// renames; a kill at any instant leaves tformer_state/ or tformer_state.old/ complete, and
// loading takes whichever exists. The top-level model files are then replaced atomically.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "model/model.h"
#include "train/optimizer.h"

namespace tf {

struct TrainState {
  long step = 0;  // steps completed
  nlohmann::json options;
  uint64_t data_fingerprint = 0;
  long data_tokens = 0;
  double elapsed_s = 0;  // training time spent up to this step, over every invocation
};

void save_checkpoint(const std::string& out, const Model& model, const Optimizer& opt, const TrainState& state,
                     const std::string& tokenizer_dir);
// The folder holding the latest complete state, or "" when out holds no training run.
std::string find_state_dir(const std::string& out);
TrainState read_train_state(const std::string& state_dir);
// Loads weights and optimizer moments; checks that shapes and the optimizer kind match.
void load_checkpoint(const std::string& state_dir, Model& model, Optimizer& opt);

}  // namespace tf
