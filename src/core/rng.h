// The one random number generator of tformer: xoshiro256** (Blackman & Vigna), seeded through
// splitmix64. Documented so that a sample or an initialisation can be reproduced elsewhere:
//   uniform()  = (next() >> 40) * 2^-24, in [0, 1)
//   normal()   = Box-Muller on two uniforms, the cosine branch only (one normal per two draws)
#pragma once
#include <array>
#include <cstdint>

namespace tf {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t next();
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  float normal();

  // The whole state, so that a checkpoint can store and restore it bit-exactly.
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

}  // namespace tf
