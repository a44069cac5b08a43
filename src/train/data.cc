#include "train/data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"

namespace fs = std::filesystem;

namespace tf {

std::vector<int> load_token_stream(const std::string& path, const Tokenizer& tok) {
  if (!fs::exists(path)) throw Error(path + ": no such file or folder");
  std::string text;
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(path + ": folder holds no files");
    for (auto& f : files) text += read_file(f.string());
  } else {
    text = read_file(path);
  }
  if (text.empty()) throw Error(path + ": the corpus is empty");
  return tok.encode(text);
}

const char* data_order_name(DataOrder o) { return o == DataOrder::kShuffle ? "shuffle" : "sequential"; }

DataOrder data_order_from_name(const std::string& name) {
  if (name == "sequential") return DataOrder::kSequential;
  if (name == "shuffle") return DataOrder::kShuffle;
  throw Error("data_order must be sequential or shuffle, got " + name);
}

uint64_t token_fingerprint(const std::vector<int>& tokens) {
  uint64_t h = 1469598103934665603ULL;
  for (int t : tokens) {
    h ^= uint64_t(uint32_t(t));
    h *= 1099511628211ULL;
  }
  return h;
}

Batcher::Batcher(const std::vector<int>& tokens, double val_fraction, int T, DataOrder order, uint64_t seed)
    : tokens_(tokens), T_(T), order_(order), seed_(seed) {
  const long N = long(tokens.size());
  n_train_ = N - long(std::floor(val_fraction * double(N)));
  if (n_train_ < T + 1)
    throw Error("the training set has " + std::to_string(n_train_) + " tokens; --seq " + std::to_string(T) +
                " needs at least " + std::to_string(T + 1));
}

long Batcher::row_start(long g) {
  if (order_ == DataOrder::kSequential) return (g * T_) % (n_train_ - T_);
  const long W = (n_train_ - 1) / T_;
  const long epoch = g / W;
  if (epoch != perm_epoch_) {
    perm_.resize(W);
    for (long k = 0; k < W; ++k) perm_[k] = k;
    Rng rng(seed_ + 1000003ULL * uint64_t(epoch + 1));
    for (long k = W - 1; k > 0; --k) std::swap(perm_[k], perm_[long(rng.next() % uint64_t(k + 1))]);
    perm_epoch_ = epoch;
  }
  return perm_[g % W] * T_;
}

void Batcher::fill(long g0, int B, int* inputs, int* targets) {
  for (int r = 0; r < B; ++r) {
    const long o = row_start(g0 + r);
    for (int t = 0; t < T_; ++t) {
      inputs[r * T_ + t] = tokens_[o + t];
      targets[r * T_ + t] = tokens_[o + t + 1];
    }
  }
}

void Batcher::fill_val(long j, int B, int* inputs, int* targets) const {
  const int* val = tokens_.data() + n_train_;
  const long span = n_val() - T_;
  for (int r = 0; r < B; ++r) {
    const long o = ((j * B + r) * T_) % span;
    for (int t = 0; t < T_; ++t) {
      inputs[r * T_ + t] = val[o + t];
      targets[r * T_ + t] = val[o + t + 1];
    }
  }
}

}  // namespace tf
