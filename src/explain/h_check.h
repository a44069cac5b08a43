// The h_t check: do the cached token-by-token steps (inference mode) compute the same hidden
// states as one parallel teacher-forced pass (training mode)? See docs/explain.md for the rule.
#pragma once
#include <nlohmann/json.hpp>
#include <span>
#include <string>

namespace tf {

// The two modes sum the same products in different orders (a blocked matmul over T rows against
// one row at a time; softmax over a masked row against a shorter row), so in float32 they agree
// to rounding, not bit for bit; that rounding grows with the size of the values, so the bound is
// relative: ok when max|diff| <= kHiddenCheckRelTol · max(1, max|h_t|). 1e-5 is about 80 float32
// ulps (eps = 1.2e-7) of the largest value: room for a few ulps per layer, while a wrong cache
// row, mask or position moves h_t by far more (one cached row off by one: ~5e-3 of the scale,
// 500 times the bound, in explain_test.cc).
inline constexpr double kHiddenCheckRelTol = 1e-5;

struct HiddenCheck {
  std::vector<double> per_position;  // max over dims of |h_inf − h_ref|, one per position (T)
  double max_abs_diff = 0;           // over all positions and dims
  double scale = 0;                  // max |h_ref|: the size of the compared values
  double rel_diff = 0;               // max_abs_diff / max(1, scale)
  double abs_bound = 0;              // kHiddenCheckRelTol · max(1, scale)
  bool ok = false;
};

// h_inf and h_ref are (T, C), row-major; h_ref is the parallel pass's.
HiddenCheck compare_hidden(std::span<const float> h_inf, std::span<const float> h_ref, int C);

// The verdict in words, the same in the terminal and on the page:
// "EQUAL to float32 rounding: max |diff| 7.6e-06 on values up to 11.2 (6.8e-07 relative, bound 1e-05)".
std::string describe(const HiddenCheck& c);

// The check's JSON fields (docs/explain.md): per_position, max_abs_diff, scale, rel_diff,
// rel_tolerance, tolerance (the absolute bound it implies), rule, summary, ok.
nlohmann::json to_json(const HiddenCheck& c);

}  // namespace tf
