#include "model/kv_cache.h"

#include <cassert>

#include "core/error.h"

namespace tf {

KvCache::KvCache(const Config& c, int capacity_rows)
    : D_(c.kv_dim()),
      capacity_(capacity_rows),
      k_(size_t(c.n_layer) * capacity_rows * c.kv_dim()),
      v_(size_t(c.n_layer) * capacity_rows * c.kv_dim()),
      refs_(size_t(capacity_rows), 0) {}

int KvCache::alloc_row() {
  int row;
  if (!free_.empty()) {
    row = free_.back();
    free_.pop_back();
  } else {
    if (used_ >= capacity_) throw Error("KV cache is full (" + std::to_string(capacity_) + " rows)");
    row = used_++;
  }
  refs_[row] = 1;
  return row;
}

void KvCache::retain(std::span<const int> rows) {
  for (int r : rows) {
    assert(refs_[r] > 0);
    ++refs_[r];
  }
}

void KvCache::release(std::span<const int> rows) {
  for (int r : rows) {
    assert(refs_[r] > 0);
    if (--refs_[r] == 0) free_.push_back(r);
  }
}

}  // namespace tf
