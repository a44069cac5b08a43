// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}}, then the
// data. Reading memory-maps the file and validates everything before any tensor is used.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/checked_file.h"

namespace tf {

struct TensorInfo {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", or another safetensors dtype
  std::vector<long> shape;
  size_t begin = 0, end = 0;  // byte offsets into the data region
  size_t numel() const;
};

class SafeTensors {
 public:
  const std::string& label() const { return label_; }  // the file, for messages
  // Memory-maps and validates path; throws Error naming the file and what is wrong.
  explicit SafeTensors(const std::string& path);
  // Validates an in-memory image (not copied: it must outlive this object). For the fuzzer.
  SafeTensors(const uint8_t* data, size_t size, std::string label);
  ~SafeTensors() = default;
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const TensorInfo* find(const std::string& name) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Converts F32, F16 or BF16 to float32 into dst (numel floats).
  void read_f32(const TensorInfo& t, float* dst) const;
  std::vector<float> read_f32(const TensorInfo& t) const;

 private:
  void parse();
  std::string label_;
  MappedFile file_;  // empty over an in-memory image
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data region
  size_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

struct TensorOut {
  std::string name;
  std::vector<long> shape;
  const float* data;  // F32, numel(shape) values
};
// Writes an F32 safetensors file atomically (see write_file_atomic).
void write_safetensors(const std::string& path, const std::vector<TensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace tf
