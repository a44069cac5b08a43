#include "io/safetensors.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

namespace tf {

namespace {

// Bytes per element of every dtype the format defines; anything else is rejected.
size_t dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
  auto it = kSizes.find(d);
  return it == kSizes.end() ? 0 : it->second;
}

}  // namespace

size_t TensorInfo::numel() const {
  size_t n = 1;
  for (long d : shape) n *= size_t(d);
  return n;
}

SafeTensors::SafeTensors(const std::string& path)
    : label_(path), file_(path), base_(file_.data()), size_(file_.size()) {
  parse();
}

SafeTensors::SafeTensors(const uint8_t* data, size_t size, std::string label)
    : label_(std::move(label)), base_(data), size_(size) {
  parse();
}

void SafeTensors::parse() {
  const std::string& f = label_;
  if (size_ < 8)
    throw Error(f + ": truncated (" + std::to_string(size_) +
                " bytes; a safetensors file starts with an 8-byte header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base_[i];
  if (n > size_ - 8)
    throw Error(f + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(size_) + " bytes)");
  data_ = base_ + 8 + n;
  data_size_ = size_ - 8 - size_t(n);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base_ + 8, base_ + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    throw Error(f + ": header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw Error(f + ": header is not a JSON object");
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = f + ": tensor " + name;
    if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() || !v.contains("shape") ||
        !v["shape"].is_array() || !v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      throw Error(where + " needs dtype (string), shape (array) and data_offsets ([begin, end])");
    TensorInfo t;
    t.name = name;
    t.dtype = v["dtype"].get<std::string>();
    const size_t es = dtype_size(t.dtype);
    if (es == 0) throw Error(where + " has unknown dtype " + t.dtype);
    size_t numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw Error(where + " has a shape entry that is not a size");
      const uint64_t dv = d.get<uint64_t>();
      if (!mul_dim(numel, dv)) throw Error(where + " has an impossibly large shape");
      t.shape.push_back(long(dv));
    }
    for (auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw Error(where + " has a data offset that is not a size");
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size_)
      throw Error(where + " has data_offsets [" + std::to_string(t.begin) + "," + std::to_string(t.end) +
                  "] outside the data region (" + std::to_string(data_size_) + " bytes)");
    size_t bytes = 0;
    if (__builtin_mul_overflow(numel, es, &bytes) || bytes != t.end - t.begin)
      throw Error(where + ": shape " + shape_str(t.shape) + " of " + t.dtype + " needs " + std::to_string(numel * es) +
                  " bytes but data_offsets span " + std::to_string(t.end - t.begin));
    index_[name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  std::vector<ByteSpan> spans;
  for (const auto& t : tensors_) spans.push_back({t.begin, t.end, &t.name});
  check_disjoint(std::move(spans), f, "data region");
}

const TensorInfo* SafeTensors::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafeTensors::read_f32(const TensorInfo& t, float* dst) const {
  const uint8_t* src = data_ + t.begin;
  const size_t n = t.numel();
  if (n == 0 && (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16")) return;  // dst may be null
  if (t.dtype == "F32") {
    std::memcpy(dst, src, n * 4);
  } else if (t.dtype == "F16") {
    f16_to_f32(src, dst, n);
  } else if (t.dtype == "BF16") {
    bf16_to_f32(src, dst, n);
  } else {
    throw Error(label_ + ": tensor " + t.name + " has dtype " + t.dtype +
                "; only F32, F16 and BF16 can be read as weights");
  }
}

std::vector<float> SafeTensors::read_f32(const TensorInfo& t) const {
  std::vector<float> out(t.numel());
  read_f32(t, out.data());
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorOut>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (auto& t : tensors) {
    size_t n = 1;
    for (long d : t.shape) n *= size_t(d);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + n * 4}}};
    offset += n * 4;
  }
  std::string hs = header.dump();
  while (hs.size() % 8) hs += ' ';  // the data region starts 8-byte aligned
  write_file_atomic(path, [&](std::FILE* f) {
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(hs.size()) >> (8 * i));
    bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(hs.data(), 1, hs.size(), f) == hs.size();
    for (auto& t : tensors) {
      size_t n = 1;
      for (long d : t.shape) n *= size_t(d);
      ok = ok && std::fwrite(t.data, 4, n, f) == n;
    }
    if (!ok) throw Error(path + ": short write");
  });
}

}  // namespace tf
