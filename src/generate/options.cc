#include "generate/options.h"

#include <cmath>

namespace tf {

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kGreedy:
      return "greedy";
    case Strategy::kSample:
      return "sample";
    case Strategy::kBeam:
      return "beam";
  }
  return "?";
}

Strategy strategy_of(const Search& s) { return Strategy(s.index()); }

int GenerateOptions::num_return() const {
  if (auto* s = std::get_if<SampleSearch>(&search)) return s->num_return;
  if (auto* b = std::get_if<BeamSearch>(&search)) return b->num_return;
  return 1;
}

// ---- the one declaration of every option

namespace {
using S = GenerateSettings;
using K = GenerateField::Kind;
constexpr auto kSample = Strategy::kSample;
constexpr auto kBeam = Strategy::kBeam;
}  // namespace

const std::vector<GenerateField>& generate_fields() {
  static const std::vector<GenerateField> fields = {
      {"strategy",
       "strategy",
       "strategy",
       "greedy | sample | beam",
       {},
       K::kString,
       [](S& s) -> void* { return &s.strategy; }},
      {"max_new", "max-new", "max_new", "new tokens at most", {}, K::kInt, [](S& s) -> void* { return &s.max_new; }},
      {"min_new",
       "min-new",
       "min_new",
       "no EOS/stop before this many new tokens",
       {},
       K::kInt,
       [](S& s) -> void* { return &s.min_new; }},
      {"eos",
       "eos",
       "eos",
       "end-of-sequence token id (default: the model's EOS: config.json's eos_token_id, else the tokenizer's, "
       "e.g. GPT-2's 50256; -1 = none)",
       {},
       K::kInt,
       [](S& s) -> void* { return &s.eos; },
       true},
      {"stop", "stop", "stop", "stop string (repeatable)", {}, K::kStrings, [](S& s) -> void* { return &s.stop; }},
      {"temperature",
       "temperature",
       "temperature",
       "sampling temperature (0 = greedy)",
       {kSample},
       K::kFloat,
       [](S& s) -> void* { return &s.filters.temperature; }},
      {"top_k",
       "top-k",
       "top_k",
       "keep the k most likely (0 = off)",
       {kSample},
       K::kInt,
       [](S& s) -> void* { return &s.filters.top_k; }},
      {"top_p",
       "top-p",
       "top_p",
       "nucleus: smallest set with probability >= p (1 = off)",
       {kSample},
       K::kFloat,
       [](S& s) -> void* { return &s.filters.top_p; }},
      {"min_p",
       "min-p",
       "min_p",
       "keep p >= min-p x the largest (0 = off)",
       {kSample},
       K::kFloat,
       [](S& s) -> void* { return &s.filters.min_p; }},
      {"repetition_penalty",
       "repetition-penalty",
       "repetition_penalty",
       "HF repetition penalty (1 = off)",
       {},
       K::kFloat,
       [](S& s) -> void* { return &s.penalties.repetition; }},
      {"frequency_penalty",
       "frequency-penalty",
       "frequency_penalty",
       "OpenAI frequency penalty",
       {},
       K::kFloat,
       [](S& s) -> void* { return &s.penalties.frequency; }},
      {"presence_penalty",
       "presence-penalty",
       "presence_penalty",
       "OpenAI presence penalty",
       {},
       K::kFloat,
       [](S& s) -> void* { return &s.penalties.presence; }},
      {"no_repeat_ngram",
       "no-repeat-ngram",
       "no_repeat_ngram",
       "ban repeating n-grams of this size (0 = off)",
       {},
       K::kInt,
       [](S& s) -> void* { return &s.penalties.no_repeat_ngram; }},
      {"beams", "beams", "beams", "beam width K", {kBeam}, K::kInt, [](S& s) -> void* { return &s.beams; }},
      {"length_penalty",
       "length-penalty",
       "length_penalty",
       "beam score = logprob / length^A",
       {kBeam},
       K::kFloat,
       [](S& s) -> void* { return &s.length_penalty; }},
      {"early_stopping",
       "early-stopping",
       "early_stopping",
       "stop beam search once K hypotheses finished",
       {kBeam},
       K::kBool,
       [](S& s) -> void* { return &s.early_stopping; }},
      {"num_return",
       "num-return",
       "num_return",
       "sequences to return",
       {kSample, kBeam},
       K::kInt,
       [](S& s) -> void* { return &s.num_return; }},
      {"seed",
       "seed",
       "seed",
       "sampling seed: sample i of --num-return draws from seed + i (default 0: a run repeats; the server draws a "
       "fresh seed per request that gives none)",
       {kSample},
       K::kU64,
       [](S& s) -> void* { return &s.seed; }},
      {"kv_cache",
       "kv-cache",
       "kv_cache",
       "reuse cached K/V (false: recompute the context every step)",
       {},
       K::kBool,
       [](S& s) -> void* { return &s.kv_cache; }},
  };
  return fields;
}

const GenerateField* find_generate_field(const std::string& id) {
  for (const auto& f : generate_fields())
    if (id == f.id) return &f;
  return nullptr;
}

std::string cli_name(const std::string& id) {
  const GenerateField* f = find_generate_field(id);
  return f ? std::string("--") + f->flag : id;
}
std::string json_name(const std::string& id) {
  const GenerateField* f = find_generate_field(id);
  return f ? f->json : id;
}

FieldError::FieldError(std::string field, const std::string& message)
    : UsageError(field + " " + message), field_(std::move(field)), message_(message) {}

std::string render_field_error(const FieldError& e, const std::function<std::string(const std::string&)>& name_of) {
  std::string out = name_of(e.field()) + " ";
  const std::string& m = e.message();
  for (size_t i = 0; i < m.size(); ++i) {
    const size_t close = m[i] == '{' ? m.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      out += m[i];
      continue;
    }
    out += name_of(m.substr(i + 1, close - i - 1));
    i = close;
  }
  return out;
}

// ---- settings to options

namespace {
void need(bool ok, const char* field, const std::string& message) {
  if (!ok) throw FieldError(field, message);
}
}  // namespace

GenerateOptions to_options(const GenerateSettings& s, const std::function<bool(const std::string&)>& was_set) {
  Strategy strategy;
  if (s.strategy == "greedy")
    strategy = Strategy::kGreedy;
  else if (s.strategy == "sample")
    strategy = Strategy::kSample;
  else if (s.strategy == "beam")
    strategy = Strategy::kBeam;
  else
    throw FieldError("strategy", "must be greedy, sample or beam, got '" + s.strategy + "'");
  // An option the chosen strategy ignores is a mistake worth saying, not a silent no-op.
  for (const auto& f : generate_fields()) {
    if (f.only_for.empty() || !was_set(f.id)) continue;
    bool applies = false;
    for (Strategy o : f.only_for) applies = applies || o == strategy;
    if (!applies)
      throw FieldError(f.id, std::string("needs {strategy} ") + strategy_name(f.only_for[0]) +
                                 (f.only_for.size() > 1 ? std::string(" or ") + strategy_name(f.only_for[1]) : "") +
                                 " (the strategy is " + s.strategy + ")");
  }
  GenerateOptions o{.max_new = s.max_new,
                    .min_new = s.min_new,
                    .eos = s.eos,
                    .stop = s.stop,
                    .kv_cache = s.kv_cache,
                    .penalties = s.penalties};
  switch (strategy) {
    case Strategy::kGreedy:
      o.search = GreedySearch{};
      break;
    case Strategy::kSample:
      o.search = SampleSearch{.filters = s.filters, .num_return = s.num_return, .seed = s.seed};
      break;
    case Strategy::kBeam:
      o.search = BeamSearch{.width = s.beams,
                            .length_penalty = s.length_penalty,
                            .early_stopping = s.early_stopping,
                            .num_return = s.num_return};
      break;
  }
  validate_values(o);
  return o;
}

void validate(const GenerateOptions& o, int vocab_size, bool has_tokenizer) {
  validate_values(o);
  need(o.eos < vocab_size, "eos",
       std::to_string(o.eos) + " is outside the vocabulary (size " + std::to_string(vocab_size) + ")");
  need(o.stop.empty() || has_tokenizer, "stop", "needs a model with a tokenizer");
}

void validate_values(const GenerateOptions& o) {
  need(o.max_new >= 1, "max_new", "must be >= 1");
  need(o.min_new >= 0 && o.min_new <= o.max_new, "min_new", "must be in [0, {max_new}]");
  need(o.eos >= -1, "eos", "must be a token id or -1 (none)");
  for (auto& s : o.stop) need(!s.empty(), "stop", "must not be an empty string");
  need(o.num_return() >= 1, "num_return", "must be >= 1");
  if (auto* b = std::get_if<BeamSearch>(&o.search)) {
    need(b->width >= 1, "beams", "must be >= 1");
    need(b->num_return <= b->width, "num_return",
         std::to_string(b->num_return) + " is more than {beams} " + std::to_string(b->width));
  }
  if (auto* sm = std::get_if<SampleSearch>(&o.search)) {
    const auto& fl = sm->filters;
    need(fl.temperature >= 0 && std::isfinite(fl.temperature), "temperature", "must be >= 0 (0 = greedy)");
    need(fl.top_k >= 0, "top_k", "must be >= 0 (0 = off)");
    need(fl.top_p > 0 && fl.top_p <= 1, "top_p", "must be in (0, 1] (1 = off)");
    need(fl.min_p >= 0 && fl.min_p <= 1, "min_p", "must be in [0, 1] (0 = off)");
  }
  const auto& p = o.penalties;
  need(p.repetition > 0 && std::isfinite(p.repetition), "repetition_penalty", "must be > 0 (1 = off)");
  need(std::isfinite(p.frequency), "frequency_penalty", "must be finite");
  need(std::isfinite(p.presence), "presence_penalty", "must be finite");
  need(std::isfinite(std::holds_alternative<BeamSearch>(o.search) ? std::get<BeamSearch>(o.search).length_penalty
                                                                  : 0.0f),
       "length_penalty", "must be finite");
  need(p.no_repeat_ngram >= 0, "no_repeat_ngram", "must be >= 0 (0 = off)");
}

}  // namespace tf
