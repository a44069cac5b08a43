#include "io/gguf.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/file.h"
#include "core/ggml_quants.h"
#include "core/half.h"
#include "core/q8_0.h"

namespace tf {

namespace {

constexpr uint32_t kQ8BlockBytes = sizeof(BlockQ8_0);  // Q8_0: one f16 scale and 32 int8 (core/q8_0.h)
constexpr uint32_t kMaxDims = 4;                       // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;                      // arrays of arrays: deep enough for any real file

// Elements per block and bytes per block of a tensor type; {0, 0} for a type tformer lacks.
std::pair<uint32_t, uint32_t> type_block(uint32_t t) {
  switch (GgmlType(t)) {
    case GgmlType::kF32:
      return {1, 4};
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return {1, 2};
    case GgmlType::kQ8_0:
      return {kQ8Block, kQ8BlockBytes};
    case GgmlType::kQ4_0:
      return {kQK4, sizeof(BlockQ4_0)};
    case GgmlType::kQ4_1:
      return {kQK4, sizeof(BlockQ4_1)};
    case GgmlType::kQ5_0:
      return {kQK4, sizeof(BlockQ5_0)};
    case GgmlType::kQ5_1:
      return {kQK4, sizeof(BlockQ5_1)};
    case GgmlType::kQ4_K:
      return {kQKK, sizeof(BlockQ4_K)};
    case GgmlType::kQ5_K:
      return {kQKK, sizeof(BlockQ5_K)};
    case GgmlType::kQ6_K:
      return {kQKK, sizeof(BlockQ6_K)};
  }
  return {0, 0};
}

// ggml's names of the tensor types tformer does not read, so that the error names the type a
// user asked llama.cpp's quantizer for (ggml.h's ggml_type; 4, 5 and 31-33 are retired).
const char* unread_type_name(uint32_t t) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {9, "Q8_1"},   {10, "Q2_K"},   {11, "Q3_K"},  {15, "Q8_K"},  {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"},
      {19, "IQ1_S"}, {20, "IQ4_NL"}, {21, "IQ3_S"}, {22, "IQ2_S"}, {23, "IQ4_XS"},  {24, "I8"},     {25, "I16"},
      {26, "I32"},   {27, "I64"},    {28, "F64"},   {29, "IQ1_M"}, {34, "TQ1_0"},   {35, "TQ2_0"},  {39, "MXFP4"}};
  for (auto [id, name] : kNames)
    if (id == t) return name;
  return nullptr;
}

// Bytes of a fixed-size metadata value type; 0 for string and array (variable) or unknown.
size_t value_size(uint32_t t) {
  switch (GgufType(t)) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

bool known_value_type(uint32_t t) { return t <= uint32_t(GgufType::kF64); }

// A bounds-checked little-endian reader over the file; every read names what it reads.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n, const std::string& label) : p_(p), n_(n), label_(label) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }
  void need(size_t k, const std::string& what) const {
    if (k > left())
      throw Error(label_ + ": truncated at byte " + std::to_string(pos_) + " reading " + what + " (" +
                  std::to_string(k) + " bytes wanted, " + std::to_string(left()) + " left)");
  }
  uint64_t uint(size_t k, const std::string& what) {
    need(k, what);
    uint64_t v = 0;
    for (size_t i = k; i-- > 0;) v = (v << 8) | p_[pos_ + i];
    pos_ += k;
    return v;
  }
  std::string string(const std::string& what) {
    const uint64_t len = uint(8, what + " length");
    if (len > left())
      throw Error(label_ + ": " + what + " has length " + std::to_string(len) + ", past the end of the file (" +
                  std::to_string(left()) + " bytes left)");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  const std::string& label_;
};

GgufValue read_value(Cursor& in, uint32_t type, const std::string& where, const std::string& label, int depth) {
  if (!known_value_type(type)) throw Error(label + ": " + where + " has unknown value type " + std::to_string(type));
  GgufValue v;
  v.type = GgufType(type);
  switch (v.type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      v.u = in.uint(value_size(type), where);
      break;
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64: {
      const size_t k = value_size(type);
      const uint64_t raw = in.uint(k, where);
      const unsigned shift = unsigned(64 - 8 * k);  // sign-extend from k bytes
      v.i = int64_t(raw << shift) >> shift;
      break;
    }
    case GgufType::kF32: {
      const uint32_t bits = uint32_t(in.uint(4, where));
      float f;
      std::memcpy(&f, &bits, 4);
      v.f = f;
      break;
    }
    case GgufType::kF64: {
      const uint64_t bits = in.uint(8, where);
      std::memcpy(&v.f, &bits, 8);
      break;
    }
    case GgufType::kBool: {
      const uint64_t b = in.uint(1, where);
      if (b > 1) throw Error(label + ": " + where + " is a bool with byte " + std::to_string(b) + " (not 0 or 1)");
      v.b = b == 1;
      break;
    }
    case GgufType::kString:
      v.s = in.string(where);
      break;
    case GgufType::kArray: {
      if (depth >= kMaxArrayDepth)
        throw Error(label + ": " + where + " nests arrays more than " + std::to_string(kMaxArrayDepth) + " deep");
      const uint32_t elem = uint32_t(in.uint(4, where + " element type"));
      if (!known_value_type(elem))
        throw Error(label + ": " + where + " has unknown element type " + std::to_string(elem));
      v.elem = GgufType(elem);
      const uint64_t n = in.uint(8, where + " count");
      // Each element takes at least its fixed size (8 for a string's length, 12 for an array's
      // type and count), so a count the rest of the file cannot hold is caught before reserving.
      const size_t min_each = elem == uint32_t(GgufType::kString)  ? 8
                              : elem == uint32_t(GgufType::kArray) ? 12
                                                                   : value_size(elem);
      if (n > in.left() / min_each)
        throw Error(label + ": " + where + " has " + std::to_string(n) + " elements, more than the " +
                    std::to_string(in.left()) + " bytes left can hold");
      v.array.reserve(size_t(n));
      for (uint64_t k = 0; k < n; ++k)
        v.array.push_back(read_value(in, elem, where + "[" + std::to_string(k) + "]", label, depth + 1));
      break;
    }
  }
  return v;
}

}  // namespace

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kBF16:
      return "BF16";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ4_1:
      return "Q4_1";
    case GgmlType::kQ5_0:
      return "Q5_0";
    case GgmlType::kQ5_1:
      return "Q5_1";
    case GgmlType::kQ4_K:
      return "Q4_K";
    case GgmlType::kQ5_K:
      return "Q5_K";
    case GgmlType::kQ6_K:
      return "Q6_K";
  }
  return "?";
}

// ---- values

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue x;
  x.type = GgufType::kU32;
  x.u = v;
  return x;
}
GgufValue GgufValue::i32(int32_t v) {
  GgufValue x;
  x.type = GgufType::kI32;
  x.i = v;
  return x;
}
GgufValue GgufValue::f32(float v) {
  GgufValue x;
  x.type = GgufType::kF32;
  x.f = v;
  return x;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue x;
  x.type = GgufType::kBool;
  x.b = v;
  return x;
}
GgufValue GgufValue::str(std::string v) {
  GgufValue x;
  x.type = GgufType::kString;
  x.s = std::move(v);
  return x;
}
GgufValue GgufValue::strings(std::vector<std::string> v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem = GgufType::kString;
  for (auto& s : v) x.array.push_back(str(std::move(s)));
  return x;
}
GgufValue GgufValue::i32s(const std::vector<int32_t>& v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem = GgufType::kI32;
  for (int32_t i : v) x.array.push_back(i32(i));
  return x;
}

std::vector<long> GgufTensorInfo::shape() const {
  std::vector<long> s;
  for (size_t i = dims.size(); i-- > 0;) s.push_back(long(dims[i]));
  return s;
}

// ---- reading

Gguf::Gguf(const std::string& path) : label_(path), file_(path), base_(file_.data()), size_(file_.size()) { parse(); }

Gguf::Gguf(const uint8_t* data, size_t size, std::string label) : label_(std::move(label)), base_(data), size_(size) {
  parse();
}

void Gguf::parse() {
  const std::string& f = label_;
  if (size_ < 4 || std::memcmp(base_, "GGUF", 4) != 0) throw Error(f + ": not a GGUF file (no \"GGUF\" magic)");
  Cursor in(base_, size_, label_);
  in.uint(4, "magic");
  version_ = uint32_t(in.uint(4, "the version"));
  if (version_ != 2 && version_ != 3)
    throw Error(f + ": GGUF version " + std::to_string(version_) + " is not supported (tformer reads 2 and 3)");
  const uint64_t n_tensors = in.uint(8, "the tensor count");
  const uint64_t n_kv = in.uint(8, "the metadata count");
  // A key-value pair takes at least 13 bytes (key length, type, a 1-byte value), a tensor info
  // at least 24 (name length, n_dims, type, offset).
  if (n_kv > in.left() / 13)
    throw Error(f + ": metadata count " + std::to_string(n_kv) + " is more than the file's " + std::to_string(size_) +
                " bytes can hold");
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = in.string("metadata key " + std::to_string(k));
    const uint32_t type = uint32_t(in.uint(4, "the type of metadata " + key));
    GgufValue v = read_value(in, type, "metadata " + key, f, 0);
    if (!kv_.emplace(key, std::move(v)).second) throw Error(f + ": metadata key " + key + " appears twice");
  }
  if (auto* a = find_value("general.alignment")) {
    if (a->type != GgufType::kU32 || a->u == 0 || (a->u & (a->u - 1)) != 0)
      throw Error(f + ": general.alignment must be a uint32 power of two");
    alignment_ = uint32_t(a->u);
  }
  if (n_tensors > in.left() / 24)
    throw Error(f + ": tensor count " + std::to_string(n_tensors) + " is more than the file's " +
                std::to_string(size_) + " bytes can hold");
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = in.string("the name of tensor " + std::to_string(k));
    const std::string where = f + ": tensor " + t.name;
    const uint32_t n_dims = uint32_t(in.uint(4, "the n_dims of tensor " + t.name));
    if (n_dims == 0 || n_dims > kMaxDims)
      throw Error(where + " has n_dims " + std::to_string(n_dims) + " (1 to " + std::to_string(kMaxDims) + ")");
    size_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = in.uint(8, "the dims of tensor " + t.name);
      if (!mul_dim(numel, dim)) throw Error(where + " has an impossibly large shape (dim " + std::to_string(dim) + ")");
      t.dims.push_back(dim);
    }
    const uint32_t type = uint32_t(in.uint(4, "the type of tensor " + t.name));
    const auto [block, block_bytes] = type_block(type);
    if (block == 0) {
      const char* name = unread_type_name(type);
      throw Error(where + " has ggml type " + std::to_string(type) + (name ? std::string(" (") + name + ")" : "") +
                  ", which tformer does not read (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)");
    }
    t.type = GgmlType(type);
    if (t.dims[0] % block != 0)
      throw Error(where + ": its first dim " + std::to_string(t.dims[0]) + " is not a multiple of " +
                  ggml_type_name(t.type) + "'s block of " + std::to_string(block));
    t.numel = numel;
    if (__builtin_mul_overflow(numel / block, size_t(block_bytes), &t.bytes))
      throw Error(where + " has an impossibly large shape");
    t.offset = in.uint(8, "the offset of tensor " + t.name);
    if (t.offset % alignment_ != 0)
      throw Error(where + " has offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
                  std::to_string(alignment_));
    if (index_.contains(t.name)) throw Error(f + ": tensor " + t.name + " appears twice");
    index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  const size_t data_start = (in.pos() + alignment_ - 1) / alignment_ * alignment_;  // pos < size: no overflow
  if (data_start > size_) {
    if (!tensors_.empty())
      throw Error(f + ": the data section would start at byte " + std::to_string(data_start) + ", past the end (" +
                  std::to_string(size_) + " bytes)");
    data_size_ = 0;
    data_ = base_ + size_;
  } else {
    data_ = base_ + data_start;
    data_size_ = size_ - data_start;
  }
  for (const auto& t : tensors_)
    if (t.offset > data_size_ || t.bytes > data_size_ - t.offset)
      throw Error(f + ": tensor " + t.name + " (" + std::to_string(t.bytes) + " bytes at offset " +
                  std::to_string(t.offset) + ") runs past the end of the data section (" + std::to_string(data_size_) +
                  " bytes)");
  std::vector<ByteSpan> spans;  // each within the data section (checked above): end cannot overflow
  for (const auto& t : tensors_) spans.push_back({t.offset, t.offset + t.bytes, &t.name});
  check_disjoint(std::move(spans), f, "data section");
}

const GgufValue* Gguf::find_value(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

uint64_t Gguf::get_uint(const std::string& key) const {
  const GgufValue* v = find_value(key);
  if (!v) throw Error(label_ + ": missing metadata " + key);
  switch (v->type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      return v->u;
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      if (v->i >= 0) return uint64_t(v->i);
      throw Error(label_ + ": metadata " + key + " is " + std::to_string(v->i) + ", must not be negative");
    default:
      throw Error(label_ + ": metadata " + key + " must be an integer");
  }
}

double Gguf::get_float(const std::string& key) const {
  const GgufValue* v = find_value(key);
  if (!v) throw Error(label_ + ": missing metadata " + key);
  if (v->type != GgufType::kF32 && v->type != GgufType::kF64)
    throw Error(label_ + ": metadata " + key + " must be a float32 or float64");
  return v->f;
}

std::string Gguf::get_string(const std::string& key) const {
  const GgufValue* v = find_value(key);
  if (!v) throw Error(label_ + ": missing metadata " + key);
  if (v->type != GgufType::kString) throw Error(label_ + ": metadata " + key + " must be a string");
  return v->s;
}

const GgufTensorInfo* Gguf::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void Gguf::read_f32(const GgufTensorInfo& t, float* dst) const {
  const uint8_t* src = data_ + t.offset;
  const size_t n = t.numel;
  if (n == 0) return;  // a dim of 0: dst may be null, and memcpy must not get it
  switch (t.type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, n * 4);
      break;
    case GgmlType::kF16:
      f16_to_f32(src, dst, n);
      break;
    case GgmlType::kBF16:
      bf16_to_f32(src, dst, n);
      break;
    case GgmlType::kQ8_0:
      dequantize_row_q8_0(dst, read_q8_0(t).data(), n);
      break;
    // The parse checked the first dim against the block and the bytes against the file, so n
    // is whole blocks and they all lie inside the data section.
    case GgmlType::kQ4_0:
      dequantize_row_q4_0(dst, src, n);
      break;
    case GgmlType::kQ4_1:
      dequantize_row_q4_1(dst, src, n);
      break;
    case GgmlType::kQ5_0:
      dequantize_row_q5_0(dst, src, n);
      break;
    case GgmlType::kQ5_1:
      dequantize_row_q5_1(dst, src, n);
      break;
    case GgmlType::kQ4_K:
      dequantize_row_q4_K(dst, src, n);
      break;
    case GgmlType::kQ5_K:
      dequantize_row_q5_K(dst, src, n);
      break;
    case GgmlType::kQ6_K:
      dequantize_row_q6_K(dst, src, n);
      break;
  }
}

std::vector<BlockQ8_0> Gguf::read_q8_0(const GgufTensorInfo& t) const {
  if (t.type != GgmlType::kQ8_0)
    throw Error(label_ + ": tensor " + t.name + " is " + ggml_type_name(t.type) + ", not Q8_0");
  // Copied out rather than pointed at: the mapping is only 32-byte aligned per tensor and a
  // block of 34 bytes is read as a struct (its layout is ggml's, little-endian like the file).
  std::vector<BlockQ8_0> out(t.numel / kQ8Block);
  std::memcpy(out.data(), data_ + t.offset, out.size() * sizeof(BlockQ8_0));
  return out;
}

std::vector<float> Gguf::read_f32(const GgufTensorInfo& t) const {
  std::vector<float> out(t.numel);
  read_f32(t, out.data());
  return out;
}

// ---- writing

namespace {

void put(std::string& out, uint64_t v, size_t k) {
  for (size_t i = 0; i < k; ++i) out += char((v >> (8 * i)) & 0xff);
}
void put_string(std::string& out, const std::string& s) {
  put(out, s.size(), 8);
  out += s;
}

void put_value(std::string& out, const GgufValue& v) {
  switch (v.type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      put(out, v.u, value_size(uint32_t(v.type)));
      break;
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      put(out, uint64_t(v.i), value_size(uint32_t(v.type)));
      break;
    case GgufType::kF32: {
      const float f = float(v.f);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      put(out, bits, 4);
      break;
    }
    case GgufType::kF64: {
      uint64_t bits;
      std::memcpy(&bits, &v.f, 8);
      put(out, bits, 8);
      break;
    }
    case GgufType::kBool:
      out += char(v.b ? 1 : 0);
      break;
    case GgufType::kString:
      put_string(out, v.s);
      break;
    case GgufType::kArray:
      put(out, uint32_t(v.elem), 4);
      put(out, v.array.size(), 8);
      for (const auto& e : v.array) put_value(out, e);
      break;
  }
}

// One tensor's bytes in its type.
std::string encode(const GgufTensorOut& t, size_t numel) {
  std::string out;
  switch (t.type) {
    case GgmlType::kF32:
      out.assign(reinterpret_cast<const char*>(t.data), numel * 4);
      break;
    case GgmlType::kF16:
      for (size_t i = 0; i < numel; ++i) put(out, float_to_half(t.data[i]), 2);
      break;
    case GgmlType::kBF16:
      for (size_t i = 0; i < numel; ++i) put(out, float_to_bf16(t.data[i]), 2);
      break;
    case GgmlType::kQ8_0: {
      std::vector<BlockQ8_0> blocks(numel / kQ8Block);
      quantize_row_q8_0(blocks.data(), t.data, numel);
      out.assign(reinterpret_cast<const char*>(blocks.data()), blocks.size() * sizeof(BlockQ8_0));
      break;
    }
    default:  // read-only types: export offers f32, f16, bf16 and q8_0
      throw Error("gguf: tformer does not write tensors of type " + std::string(ggml_type_name(t.type)));
  }
  return out;
}

}  // namespace

void write_gguf(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                const std::vector<GgufTensorOut>& tensors) {
  uint64_t alignment = 32;
  for (const auto& [k, v] : metadata)
    if (k == "general.alignment") alignment = v.u;
  std::string head = "GGUF";
  put(head, 3, 4);
  put(head, tensors.size(), 8);
  put(head, metadata.size(), 8);
  for (const auto& [k, v] : metadata) {
    put_string(head, k);
    put(head, uint32_t(v.type), 4);
    put_value(head, v);
  }
  uint64_t offset = 0;
  std::vector<size_t> numels;
  for (const auto& t : tensors) {
    size_t n = 1;
    for (long d : t.shape) n *= size_t(d);
    if (t.type == GgmlType::kQ8_0 && t.shape.back() % kQ8Block != 0)
      throw Error(path + ": tensor " + t.name + " has shape " + shape_str(t.shape) +
                  "; Q8_0 needs the last dimension to be a multiple of 32");
    numels.push_back(n);
    put_string(head, t.name);
    put(head, t.shape.size(), 4);
    for (size_t i = t.shape.size(); i-- > 0;) put(head, uint64_t(t.shape[i]), 8);
    put(head, uint32_t(t.type), 4);
    put(head, offset, 8);
    const auto [block, block_bytes] = type_block(uint32_t(t.type));
    offset += (n / block * block_bytes + alignment - 1) / alignment * alignment;
  }
  head.resize((head.size() + alignment - 1) / alignment * alignment, '\0');
  write_file_atomic(path, [&](std::FILE* f) {
    bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();
    for (size_t i = 0; i < tensors.size() && ok; ++i) {
      std::string bytes = encode(tensors[i], numels[i]);
      bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, '\0');
      ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    }
    if (!ok) throw Error(path + ": short write");
  });
}

}  // namespace tf
