#include "core/checked_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace tf {

MappedFile::MappedFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw Error(path + ": not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      close(fd);
      throw Error(path + ": mmap failed (" + std::strerror(errno) + ")");
    }
    map_ = m;
  }
  close(fd);
}

MappedFile::~MappedFile() {
  if (map_) munmap(map_, size_);
}

bool mul_dim(size_t& numel, uint64_t dim) {
  return dim <= (uint64_t(1) << 40) && !__builtin_mul_overflow(numel, size_t(dim), &numel);
}

void check_disjoint(std::vector<ByteSpan> spans, const std::string& label, const std::string& region) {
  std::sort(spans.begin(), spans.end(), [](const ByteSpan& a, const ByteSpan& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      throw Error(label + ": tensors " + *spans[i - 1].name + " and " + *spans[i].name + " overlap in the " + region);
}

void f16_to_f32(const uint8_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(uint16_t(src[2 * i] | src[2 * i + 1] << 8));
}

void bf16_to_f32(const uint8_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(uint16_t(src[2 * i] | src[2 * i + 1] << 8));
}

}  // namespace tf
