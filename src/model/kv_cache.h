// The KV cache: a pool of rows, each holding the K and V of one position for every layer, and
// sequences that are lists of row indices. Rows are written once and never changed, so
// sequences can share them: beams share the prompt's rows without a copy, and reordering
// beams copies index lists (O(T) ints), never K/V (O(L·T·C) floats).
#pragma once
#include <cstddef>
#include <vector>

#include "model/config.h"

namespace tf {

class KvCache {
 public:
  KvCache(const Config& c, int capacity_rows);
  float* k(int l, int row) { return k_.data() + (size_t(l) * capacity_ + row) * C_; }  // (C)
  float* v(int l, int row) { return v_.data() + (size_t(l) * capacity_ + row) * C_; }  // (C)
  const float* k(int l, int row) const { return k_.data() + (size_t(l) * capacity_ + row) * C_; }
  const float* v(int l, int row) const { return v_.data() + (size_t(l) * capacity_ + row) * C_; }
  size_t row_stride() const { return C_; }  // floats from one row of k(l, ·) to the next
  int alloc_row();                          // throws Error when the pool is full
  size_t kv_cache_bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  int L_, C_, capacity_, used_ = 0;
  std::vector<float> k_, v_;  // (L, capacity, C)
};

// Bytes of one cached position: K and V for every layer.
inline size_t kv_cache_row_bytes(const Config& c) { return 2 * size_t(c.n_layer) * c.n_embd * sizeof(float); }

// One sequence in the cache: rows[t] is the pool row holding position t.
struct KvSeq {
  std::vector<int> rows;
  int length() const { return int(rows.size()); }
};

}  // namespace tf
