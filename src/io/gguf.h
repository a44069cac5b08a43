// GGUF v3, llama.cpp's single-file format (spec: ggml's docs/gguf.md). Little-endian:
//   "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata: {string key, u32 value type, value}...   (string = u64 length + bytes, no NUL)
//   tensor infos: {string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset}...
//   zero padding to `general.alignment` (default 32), then the data section; every tensor's
//   offset is relative to it and a multiple of the alignment.
// dims are ggml's order, fastest-varying first: a row-major [rows, cols] matrix has dims
// {cols, rows}. Reading memory-maps the file and validates every count, length, type, shape
// and offset against the file's size before anything is used.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/checked_file.h"
#include "core/q8_0.h"

namespace tf {

// Metadata value types (gguf_type).
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Tensor types (ggml_type) that tformer reads; it writes F32, F16, BF16 and Q8_0. Any other type
// is rejected by name (or by number when ggml's list has no name for it).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};
const char* ggml_type_name(GgmlType t);

// One metadata value. Integers of every width are held in i (signed) or u (unsigned), floats in
// f; an array holds its elements, all of elem type.
struct GgufValue {
  GgufType type = GgufType::kU32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  GgufType elem = GgufType::kU32;  // arrays
  std::vector<GgufValue> array;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue strings(std::vector<std::string> v);
  static GgufValue i32s(const std::vector<int32_t>& v);
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: fastest first
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // into the data section
  size_t numel = 0, bytes = 0;
  std::vector<long> shape() const;  // row-major order: dims reversed
};

class Gguf {
 public:
  // Memory-maps and validates path; throws Error naming the file and the field at fault.
  explicit Gguf(const std::string& path);
  // Validates an in-memory image (not copied: it must outlive this object). For the fuzzer.
  Gguf(const uint8_t* data, size_t size, std::string label);
  ~Gguf() = default;
  Gguf(const Gguf&) = delete;
  Gguf& operator=(const Gguf&) = delete;

  const std::string& label() const { return label_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find_value(const std::string& key) const;
  // Typed getters: throw Error naming the file and key when it is missing or of another type.
  // get_uint accepts any unsigned or non-negative signed integer; get_float F32 or F64.
  uint64_t get_uint(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find(const std::string& name) const;
  // Converts any type tformer reads to float32 into dst (numel floats); the block types as
  // ggml's dequantizers do (core/ggml_quants.h).
  void read_f32(const GgufTensorInfo& t, float* dst) const;
  std::vector<float> read_f32(const GgufTensorInfo& t) const;
  // A Q8_0 tensor's blocks as the file holds them (rows of cols / 32 blocks); throws for any
  // other type.
  std::vector<BlockQ8_0> read_q8_0(const GgufTensorInfo& t) const;

 private:
  void parse();
  std::string label_;
  MappedFile file_;  // empty over an in-memory image
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0, alignment_ = 32;
  const uint8_t* data_ = nullptr;  // the data section
  size_t data_size_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

struct GgufTensorOut {
  std::string name;
  std::vector<long> shape;  // row-major, as ours; written reversed as ggml's dims
  GgmlType type = GgmlType::kF32;
  const float* data = nullptr;  // F32, numel(shape) values; converted to type on write
};
// Writes a GGUF v3 file atomically (see write_file_atomic): metadata in the order given, then
// the tensors, each padded to the alignment (general.alignment when the metadata sets it, else
// 32). Q8_0 needs the last dimension to be a multiple of 32.
void write_gguf(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorOut>& tensors);

}  // namespace tf
