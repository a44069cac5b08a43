// libFuzzer target: the GGUF reader either accepts an image and can read every tensor it lists,
// or throws tf::Error. Anything else (a crash, a sanitizer report) is a bug. read_f32 takes every
// type the reader accepts through its decoder, the block types (Q4_0 ... Q6_K) included; the
// corpus starts from a file with one tensor of each (scripts/fuzz.sh, tests/ggml_quantize.py).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tf::Gguf g(data, size, "fuzz");
    for (const auto& t : g.tensors())
      if (t.numel <= (1u << 20)) g.read_f32(t);
  } catch (const tf::Error&) {
  }
  return 0;
}
