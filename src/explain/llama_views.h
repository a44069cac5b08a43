// What the walkthrough adds for a Llama-family model, where the page shows attention: the
// rotary angles that turn q and k by position, and which query heads share a K/V head. GPT-2
// has neither (learned positions, one K/V per head), so its walkthrough carries none of this.
#pragma once
#include <nlohmann/json.hpp>

#include "model/config.h"

namespace tf {

// The rotary embedding of positions 0..T-1 (docs/explain.md, "rope"): the scaling as read from
// config.json, inv_freq (HS/2) before and after it, and angles[t][i] = t · inv_freq[i] in
// radians, not reduced mod 2π. One table serves every layer and head: rotary has no weights.
nlohmann::json rope_view(const Config& c, int T);

// Grouped-query attention: query head h reads K/V head h / (NH/NKV) (0-based, as HF's
// repeat_kv), the groups that share a K/V head, and the KV cache's bytes per position against
// those of one K/V head per query head.
nlohmann::json gqa_view(const Config& c);

}  // namespace tf
