// libFuzzer target: the safetensors reader either accepts an image and can read every tensor
// it lists, or throws tf::Error. Anything else (a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tf::SafeTensors st(data, size, "fuzz");
    for (const auto& t : st.tensors()) {
      if (t.numel() > (1u << 20)) continue;
      try {
        st.read_f32(t);
      } catch (const tf::Error&) {  // a non-float dtype
      }
    }
  } catch (const tf::Error&) {
  }
  return 0;
}
