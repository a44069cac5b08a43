// Learning-rate schedule, gradient clipping and the optimizers (AdamW, SGD) over the flat
// parameter buffer.
#pragma once
#include <string>
#include <vector>

#include "model/params.h"

namespace tf {

enum class Schedule { kConstant, kCosine };
enum class OptimizerKind { kAdamW, kSgd };
// The names checkpoints and the command line use ("constant", "cosine", "adamw", "sgd"); the
// *_from_name functions throw Error naming the accepted values.
const char* schedule_name(Schedule s);
Schedule schedule_from_name(const std::string& name);
const char* optimizer_name(OptimizerKind k);
OptimizerKind optimizer_from_name(const std::string& name);

// Step s (0-based): lr·(s+1)/warmup while s < warmup; then constant lr, or cosine
// min_lr + ½(lr − min_lr)(1 + cos(π·(s − warmup)/(steps − warmup))).
double lr_at(long s, double lr, double min_lr, long warmup, long steps, Schedule schedule);

// Global L2 norm of g, summed in fixed blocks (the same value at any thread count).
double global_norm(const float* g, size_t n);
// When norm > bound > 0, multiplies every gradient by bound/norm. Returns the norm before.
double clip_grad_norm(float* g, size_t n, double bound);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

class Optimizer {
 public:
  Optimizer(const std::vector<ParamTensor>& table, OptimizerConfig cfg);
  // One update at learning rate lr. Frozen tensors (by name) are not touched. Weight decay
  // applies to tensors with decay=true (matrices and embeddings), not to biases or LayerNorm.
  void step(float* params, const float* grads, double lr);
  long t = 0;               // steps taken
  std::vector<float> m, v;  // AdamW moments, flat like the parameters
  std::vector<std::string> frozen;
  const OptimizerConfig& config() const { return cfg_; }

 private:
  std::vector<ParamTensor> table_;
  OptimizerConfig cfg_;
};

}  // namespace tf
