#include "model/kv_cache.h"

#include "core/error.h"

namespace tf {

KvCache::KvCache(const Config& c, int capacity_rows)
    : D_(c.kv_dim()),
      capacity_(capacity_rows),
      k_(size_t(c.n_layer) * capacity_rows * c.kv_dim()),
      v_(size_t(c.n_layer) * capacity_rows * c.kv_dim()) {}

int KvCache::alloc_row() {
  if (used_ >= capacity_) throw Error("KV cache is full (" + std::to_string(capacity_) + " rows)");
  return used_++;
}

}  // namespace tf
