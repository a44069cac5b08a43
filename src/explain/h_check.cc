#include "explain/h_check.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

namespace tf {

HiddenCheck compare_hidden(std::span<const float> h_inf, std::span<const float> h_ref, int C) {
  assert(C > 0 && h_inf.size() == h_ref.size() && h_inf.size() % size_t(C) == 0);
  HiddenCheck c;
  for (size_t t = 0; t * C < h_inf.size(); ++t) {
    double d = 0;
    for (size_t i = t * C; i < (t + 1) * C; ++i) {
      // A NaN on either side is a disagreement, not a 0 that max() would drop.
      const double e = std::fabs(double(h_inf[i]) - double(h_ref[i]));
      d = std::isnan(e) ? INFINITY : std::max(d, e);
      c.scale = std::max(c.scale, double(std::fabs(h_ref[i])));
    }
    c.per_position.push_back(d);
    c.max_abs_diff = std::max(c.max_abs_diff, d);
  }
  const double unit = std::max(1.0, c.scale);
  c.rel_diff = c.max_abs_diff / unit;
  c.abs_bound = kHiddenCheckRelTol * unit;
  c.ok = c.max_abs_diff <= c.abs_bound;
  return c;
}

std::string describe(const HiddenCheck& c) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s: max |diff| %.1e on values up to %.3g (%.1e relative, bound %.0e)",
                c.ok ? "EQUAL to float32 rounding" : "DIFFERENT", c.max_abs_diff, c.scale, c.rel_diff,
                kHiddenCheckRelTol);
  return buf;
}

nlohmann::json to_json(const HiddenCheck& c) {
  // JSON has no Infinity: a NaN in h_t is reported as a huge difference.
  auto finite = [](double x) { return std::isfinite(x) ? x : 1e308; };
  nlohmann::json per = nlohmann::json::array();
  for (size_t t = 0; t < c.per_position.size(); ++t)
    per.push_back({{"t", t + 1}, {"max_abs_diff", finite(c.per_position[t])}});
  return {{"per_position", per},
          {"max_abs_diff", finite(c.max_abs_diff)},
          {"scale", c.scale},
          {"rel_diff", finite(c.rel_diff)},
          {"rel_tolerance", kHiddenCheckRelTol},
          {"tolerance", c.abs_bound},
          {"rule", "max|diff| <= 1e-5 * max(1, max|h_t|): equal to float32 rounding"},
          {"summary", describe(c)},
          {"ok", c.ok}};
}

}  // namespace tf
