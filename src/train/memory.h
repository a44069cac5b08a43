// What a training run will hold in memory, estimated from the shapes before anything is
// allocated, so that `--batch 100000` is refused with a number instead of being killed by the
// kernel half-way through its first step.
#pragma once
#include <string>

#include "model/config.h"
#include "train/optimizer.h"

namespace tf {

struct TrainMemory {  // bytes
  double weights = 0, grads = 0, moments = 0;
  double activations = 0;   // the Workspace's Activations for rows·T positions (workspace.h)
  double grad_scratch = 0;  // its GradScratch: one layer's activation gradients
  double logits = 0;        // one LM-head chunk of Model::head_rows() positions
  double data = 0;          // the corpus text and its token ids
  double total() const { return weights + grads + moments + activations + grad_scratch + logits + data; }
  std::string describe() const;  // "weights 0.4 MB, gradients …"
};

// rows: sequences per micro-batch on this process (B / ranks); data_bytes: the corpus size.
TrainMemory estimate_train_memory(const Config& c, long rows, long T, OptimizerKind opt, double data_bytes);

// MemAvailable in /proc/meminfo, in bytes; -1 where it cannot be read.
double available_memory_bytes();

std::string format_bytes(double bytes);  // "812.3 GB"

}  // namespace tf
