// The KV cache: a pool of rows, each holding the K and V of one position for every layer, and
// sequences that are lists of row indices. Rows are written once and never changed, so
// sequences can share them: beams share the prompt's rows without a copy, and reordering
// beams copies index lists (O(T) ints), never K/V (O(L·T·C) floats). A row holds NKV·HS floats
// of K and of V per layer: C for GPT-2, C·NKV/NH under grouped-query attention (SmolLM2-135M:
// 192 of 576, a third).
#pragma once
#include <cstddef>
#include <vector>

#include "model/config.h"

namespace tf {

class KvCache {
 public:
  KvCache(const Config& c, int capacity_rows);
  float* k(int l, int row) { return k_.data() + (size_t(l) * capacity_ + row) * D_; }  // (NKV·HS)
  float* v(int l, int row) { return v_.data() + (size_t(l) * capacity_ + row) * D_; }  // (NKV·HS)
  const float* k(int l, int row) const { return k_.data() + (size_t(l) * capacity_ + row) * D_; }
  const float* v(int l, int row) const { return v_.data() + (size_t(l) * capacity_ + row) * D_; }
  size_t row_stride() const { return D_; }  // floats from one row of k(l, ·) to the next
  int alloc_row();                          // throws Error when the pool is full
  size_t kv_cache_bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  int D_, capacity_, used_ = 0;  // D_ = NKV·HS
  std::vector<float> k_, v_;     // (L, capacity, NKV·HS)
};

// Bytes of one cached position: K and V for every layer.
inline size_t kv_cache_row_bytes(const Config& c) { return 2 * size_t(c.n_layer) * c.kv_dim() * sizeof(float); }

// One sequence in the cache: rows[t] is the pool row holding position t.
struct KvSeq {
  std::vector<int> rows;
  int length() const { return int(rows.size()); }
};

}  // namespace tf
