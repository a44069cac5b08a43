// Training data: a token stream, its train/validation split, and the exact batch order.
//
// Sequential order (documented in the README, reproducible by hand): the last
// floor(val_fraction·N) tokens are the validation set, the first N_train the training set.
// Row r of micro-batch m of step s (0-based) starts at
//     o = ((s·accum + m)·B + r)·T  mod  (N_train − T)
// with inputs tok[o .. o+T−1] and targets tok[o+1 .. o+T].
//
// Shuffled order: the training set is cut into W = (N_train − 1) / T windows starting at k·T;
// global row g = (s·accum + m)·B + r is window perm_e[g mod W] of epoch e = g / W, where perm_e
// is a Fisher-Yates shuffle of 0..W−1 drawn from Rng(seed + 1000003·(e+1)). Either way a row
// depends only on its global index, so resuming (and splitting rows across ranks) is exact.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tf {

// A text file, or a folder whose regular files are read in sorted order and concatenated.
std::vector<int> load_token_stream(const std::string& path, const Tokenizer& tok);
uint64_t token_fingerprint(const std::vector<int>& tokens);  // FNV-1a over the ids

enum class DataOrder { kSequential, kShuffle };
const char* data_order_name(DataOrder o);                 // "sequential" | "shuffle", as checkpoints store it
DataOrder data_order_from_name(const std::string& name);  // throws Error for another name

class Batcher {
 public:
  // Throws Error when the training set is shorter than T+1 tokens.
  Batcher(const std::vector<int>& tokens, double val_fraction, int T, DataOrder order, uint64_t seed);
  // Start offset (into the training set) of global row g.
  long row_start(long g);
  // Fills inputs/targets (B,T) with rows g0 .. g0+B−1.
  void fill(long g0, int B, int* inputs, int* targets);
  // Validation batch j: B rows at offsets ((j·B + r)·T) mod (N_val − T) of the validation set.
  void fill_val(long j, int B, int* inputs, int* targets) const;
  long n_train() const { return n_train_; }
  long n_val() const { return long(tokens_.size()) - n_train_; }
  bool has_val() const { return n_val() >= T_ + 1; }

 private:
  const std::vector<int>& tokens_;
  long n_train_;
  int T_;
  DataOrder order_;
  uint64_t seed_;
  long perm_epoch_ = -1;
  std::vector<long> perm_;
};

}  // namespace tf
