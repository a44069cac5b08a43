#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/kernels.h"

namespace tf {

const char* schedule_name(Schedule s) { return s == Schedule::kCosine ? "cosine" : "constant"; }

Schedule schedule_from_name(const std::string& name) {
  if (name == "cosine") return Schedule::kCosine;
  if (name == "constant") return Schedule::kConstant;
  throw Error("lr_schedule must be constant or cosine, got " + name);
}

const char* optimizer_name(OptimizerKind k) { return k == OptimizerKind::kAdamW ? "adamw" : "sgd"; }

OptimizerKind optimizer_from_name(const std::string& name) {
  if (name == "adamw") return OptimizerKind::kAdamW;
  if (name == "sgd") return OptimizerKind::kSgd;
  throw Error("optimizer must be adamw or sgd, got " + name);
}

double lr_at(long s, double lr, double min_lr, long warmup, long steps, Schedule schedule) {
  if (s < warmup) return lr * double(s + 1) / double(warmup);
  if (schedule == Schedule::kConstant || steps <= warmup) return lr;
  const double progress = double(s - warmup) / double(steps - warmup);
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

double global_norm(const float* g, size_t n) {
  constexpr size_t kBlock = 1 << 16;
  const size_t nb = (n + kBlock - 1) / kBlock;
  // Reused across calls (no allocation per step); the reference makes the calling thread's
  // buffer the one the OpenMP team writes into.
  thread_local std::vector<double> partial_buffer;
  std::vector<double>& partial = partial_buffer;
  partial.assign(nb, 0.0);
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < nb; ++b) {
    double s = 0;
    const size_t end = std::min(n, (b + 1) * kBlock);
    for (size_t i = b * kBlock; i < end; ++i) s += double(g[i]) * g[i];
    partial[b] = s;
  }
  double total = 0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

double clip_grad_norm(float* g, size_t n, double bound) {
  const double norm = global_norm(g, n);
  if (bound > 0 && norm > bound) {
    const float scale = float(bound / norm);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) g[i] *= scale;
  }
  return norm;
}

Optimizer::Optimizer(const std::vector<ParamTensor>& table, OptimizerConfig cfg) : table_(table), cfg_(cfg) {
  if (cfg_.kind == OptimizerKind::kAdamW) {
    const size_t n = param_count(table_);
    m.assign(n, 0.0f);
    v.assign(n, 0.0f);
  }
}

void Optimizer::step(float* params, const float* grads, double lr) {
  ++t;
  for (const auto& p : table_) {
    if (std::find(frozen.begin(), frozen.end(), p.name) != frozen.end()) continue;
    const float wd = p.decay ? float(cfg_.weight_decay) : 0.0f;
    float* w = params + p.offset;
    const float* g = grads + p.offset;
    if (cfg_.kind == OptimizerKind::kAdamW) {
      adamw_update(w, g, m.data() + p.offset, v.data() + p.offset, p.numel, float(lr), float(cfg_.beta1),
                   float(cfg_.beta2), float(cfg_.eps), wd, t);
    } else {  // plain SGD, decoupled weight decay as in AdamW
      const float decay = 1.0f - float(lr) * wd, flr = float(lr);
      for (size_t i = 0; i < p.numel; ++i) w[i] = w[i] * decay - flr * g[i];
    }
  }
}

}  // namespace tf
