#include "explain/llama_views.h"

#include <string>

#include "model/kv_cache.h"
#include "model/llama_block.h"

namespace tf {

namespace {
const char* scaling_name(RopeScaling s) {
  switch (s) {
    case RopeScaling::kLinear:
      return "linear";
    case RopeScaling::kLlama3:
      return "llama3";
    case RopeScaling::kFreqFactors:
      return "freq_factors";
    case RopeScaling::kNone:
      break;
  }
  return "none";
}
}  // namespace

nlohmann::json rope_view(const Config& c, int T) {
  const int HS = c.head_size();
  const Rope& r = c.rope;
  // The unscaled frequencies, so the page can show what the scaling changed (llama3 slows only
  // the long wavelengths).
  const std::vector<double> inv_freq = rope_inv_freq(r, HS), base = rope_inv_freq(Rope{.theta = r.theta}, HS);
  nlohmann::json scaling = {{"type", scaling_name(r.scaling)}};
  if (r.scaling == RopeScaling::kFreqFactors) scaling["freq_factors"] = r.freq_factors;
  if (r.scaling == RopeScaling::kLinear || r.scaling == RopeScaling::kLlama3) scaling["factor"] = r.factor;
  if (r.scaling == RopeScaling::kLlama3) {
    scaling["low_freq_factor"] = r.low_freq_factor;
    scaling["high_freq_factor"] = r.high_freq_factor;
    scaling["original_max_position_embeddings"] = r.original_max_positions;
  }
  std::vector<int> positions(T);
  nlohmann::json angles = nlohmann::json::array();  // (T, HS/2)
  for (int t = 0; t < T; ++t) {
    positions[t] = t;
    std::vector<double> row(inv_freq.size());
    for (size_t i = 0; i < row.size(); ++i) row[i] = double(t) * inv_freq[i];  // as rope_forward turns the pair
    angles.push_back(row);
  }
  return {{"theta", r.theta},
          {"scaling", scaling},
          {"head_dim", HS},
          {"pairs", HS / 2},
          {"layout", "half-split: dimension i pairs with i + head_dim/2 (HF's rotate_half)"},
          {"inv_freq", inv_freq},
          {"inv_freq_unscaled", base},
          {"positions", positions},
          {"angles", angles},
          {"applies_to", "q and k of every layer and head (v is not rotated)"}};
}

nlohmann::json gqa_view(const Config& c) {
  const int NH = c.n_head, NKV = c.kv_heads(), group = NH / NKV;
  std::vector<int> kv_head_of(NH);
  for (int h = 0; h < NH; ++h) kv_head_of[h] = h / group;
  nlohmann::json groups = nlohmann::json::array();
  for (int k = 0; k < NKV; ++k) {
    std::vector<int> q(group);
    for (int j = 0; j < group; ++j) q[j] = k * group + j;
    groups.push_back({{"kv_head", k}, {"query_heads", q}});
  }
  // The grouping in words, shared by the terminal and the page: "heads 0–2 share K/V head 0".
  std::string summary;
  if (NKV == NH) {
    summary = "each of the " + std::to_string(NH) + " query heads has its own K/V head (multi-head attention)";
  } else if (NKV == 1) {
    summary = "all " + std::to_string(NH) + " query heads share K/V head 0 (multi-query attention)";
  } else {
    summary = std::to_string(NH) + " query heads share " + std::to_string(NKV) + " K/V heads: ";
    for (int k = 0; k < NKV; ++k)
      summary += (k ? "; heads " : "heads ") + std::to_string(k * group) + "–" + std::to_string(k * group + group - 1) +
                 " share K/V head " + std::to_string(k);
  }
  Config mha = c;  // the same model with one K/V head per query head: what GQA saves
  mha.n_kv_head = NH;
  return {{"n_head", NH},
          {"n_kv_head", NKV},
          {"group_size", group},
          {"kind", NKV == NH  ? "multi-head"
                   : NKV == 1 ? "multi-query"
                              : "grouped-query"},
          {"kv_head_of", kv_head_of},
          {"groups", groups},
          {"summary", summary},
          {"kv_cache_row_bytes", kv_cache_row_bytes(c)},
          {"kv_cache_row_bytes_mha", kv_cache_row_bytes(mha)}};
}

}  // namespace tf
