// What the model-file readers (io/safetensors, io/gguf) share: a read-only memory map of the
// whole file, shape sizes checked against overflow, the check that no two tensors' bytes
// overlap, and little-endian F16/BF16 to float. Each throws Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tf {

// The whole of a regular file, mapped read-only (empty files map nothing); unmapped on
// destruction. Default-constructed: no file (a reader over a caller's memory, e.g. a fuzzer's).
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return static_cast<const uint8_t*>(map_); }
  size_t size() const { return size_; }

 private:
  void* map_ = nullptr;
  size_t size_ = 0;
};

// Multiplies numel by dim; false when dim is past any real tensor's (2^40) or the product
// overflows size_t.
bool mul_dim(size_t& numel, uint64_t dim);

// One tensor's bytes [begin, end) in a file's data region.
struct ByteSpan {
  uint64_t begin = 0, end = 0;
  const std::string* name = nullptr;
};
// Throws "<label>: tensors A and B overlap in the <region>" for the first overlap in offset order.
void check_disjoint(std::vector<ByteSpan> spans, const std::string& label, const std::string& region);

// n little-endian F16 or BF16 values at src (any alignment) to floats.
void f16_to_f32(const uint8_t* src, float* dst, size_t n);
void bf16_to_f32(const uint8_t* src, float* dst, size_t n);

}  // namespace tf
