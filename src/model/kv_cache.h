// The KV cache: a pool of rows, each holding the K and V of one position for every layer, and
// sequences that are lists of row indices. Rows are written once and never changed, so
// sequences can share them: beams share the prompt's rows without a copy, and reordering
// beams copies index lists (O(T) ints), never K/V (O(L·T·C) floats). A row holds NKV·HS floats
// of K and of V per layer: C for GPT-2, C·NKV/NH under grouped-query attention (SmolLM2-135M:
// 192 of 576, a third).
//
// Rows are counted references: a sequence holds one on each of its rows, a row shared by
// beams is held by each, and a row nobody holds returns to the pool. So one pool serves many
// requests at once (the server's batcher), each finished sequence giving its rows back.
#pragma once
#include <cstddef>
#include <span>
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
  int alloc_row();                          // a row with one reference; throws Error when the pool is full
  void retain(std::span<const int> rows);   // one more reference on each
  void release(std::span<const int> rows);  // one fewer; a row left with none is free again
  int capacity() const { return capacity_; }
  int free_rows() const { return capacity_ - used_ + int(free_.size()); }
  size_t kv_cache_bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  int D_, capacity_, used_ = 0;  // D_ = NKV·HS; rows [0, used_) have been handed out at least once
  std::vector<float> k_, v_;     // (L, capacity, NKV·HS)
  std::vector<int> refs_;        // (capacity) references held on each row
  std::vector<int> free_;        // rows below used_ that nobody holds
};

// Bytes of one cached position: K and V for every layer.
inline size_t kv_cache_row_bytes(const Config& c) { return 2 * size_t(c.n_layer) * c.kv_dim() * sizeof(float); }

// One sequence in the cache: rows[t] is the pool row holding position t.
struct KvSeq {
  std::vector<int> rows;
  int length() const { return int(rows.size()); }
};

}  // namespace tf
