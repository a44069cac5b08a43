#include "train/memory.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "model/params.h"

namespace tf {

std::string format_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (b >= 1000 && u < 5) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string TrainMemory::describe() const {
  return "weights " + format_bytes(weights) + ", gradients " + format_bytes(grads) + ", optimizer moments " +
         format_bytes(moments) + ", activations " + format_bytes(activations + grad_scratch) + ", logits chunk " +
         format_bytes(logits) + ", data " + format_bytes(data);
}

TrainMemory estimate_train_memory(const Config& c, long rows, long T, OptimizerKind opt, double data_bytes) {
  constexpr double kF = sizeof(float);
  const double P = double(param_count(param_table(c)));
  const double L = c.n_layer, C = c.n_embd, NH = c.n_head, V = c.vocab_size;
  const double N = double(rows) * double(T), NC = N * C, att = double(rows) * NH * double(T) * double(T);
  TrainMemory m;
  m.weights = P * kF;
  m.grads = P * kF;
  m.moments = opt == OptimizerKind::kAdamW ? 2 * P * kF : 0;
  // Model::ensure_acts: resid (L+1)·NC; per layer ln1, atty, resid_mid, ln2 (NC each), qkv 3NC,
  // fch and fch_gelu 4NC each, att rows·NH·T², four LayerNorm statistics N; then lnf NC and
  // lnf statistics, losses, lse and tokens, N each.
  m.activations = kF * ((L + 1) * NC + L * (15 * NC + att + 4 * N) + NC + 5 * N);
  // Model::ensure_grad_scratch: dresid, dln, datty, dlnf NC each, dqkv 3NC, dfch and dfch_gelu
  // 4NC each, datt rows·NH·T².
  m.grad_scratch = kF * (15 * NC + att);
  // Model::head_loss: min(N, head_rows) positions of V logits, head_rows = max(16, 2^24 / V).
  m.logits = kF * std::min(N, double(std::max(16, (1 << 24) / c.vocab_size))) * V;
  // The text, then one int per token (at most one per byte) plus the trainer's inputs/targets.
  m.data = data_bytes * (1 + sizeof(int)) + 2 * N * sizeof(int);
  return m;
}

double available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream s(line.substr(13));
    double kb = -1;
    s >> kb;
    return kb < 0 ? -1 : kb * 1024;
  }
  return -1;
}

}  // namespace tf
