// Generation options, declared once. GenerateOptions is what the decoder reads: the common
// knobs plus one variant per search strategy. kGenerateFields is the single declaration of every
// option a front end can set (its command-line flag, its JSON field in the HTTP API, its help
// and its default, read from a default-constructed GenerateSettings): the CLI derives its flags
// and --help from it, the server its accepted fields, and validation errors name the field so
// each front end can say it in its own words.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "generate/processors.h"

namespace tf {

struct GreedySearch {};
struct SampleSearch {
  SamplingFilters filters;
  int num_return = 1;  // independent samples; sample i draws from Rng(seed + i)
  uint64_t seed = 0;
};
struct BeamSearch {
  int width = 4;                // K
  float length_penalty = 1.0f;  // score = cumulative logprob / length^length_penalty
  bool early_stopping = false;  // stop once K hypotheses finished
  int num_return = 1;           // best finished hypotheses returned, <= width
  bool trace = false;           // record the beam tree (GenerateResult::beam_tree)
};
using Search = std::variant<GreedySearch, SampleSearch, BeamSearch>;

enum class Strategy { kGreedy, kSample, kBeam };
const char* strategy_name(Strategy s);
Strategy strategy_of(const Search& s);

struct GenerateOptions {
  int max_new = 32;
  int min_new = 0;                // EOS (and stop strings) cannot end a sequence before this
  int eos = -1;                   // -1: none
  std::vector<std::string> stop;  // stop strings (need a tokenizer)
  bool kv_cache = true;
  Penalties penalties;
  Search search = GreedySearch{};

  int num_return() const;  // sequences returned
};

// ---- the front ends' view: flat settings, one field per option

// Every option as a front end sets it, before it becomes a GenerateOptions.
struct GenerateSettings {
  std::string strategy = "greedy";
  int max_new = 32, min_new = 0, eos = -1;
  std::vector<std::string> stop;
  bool kv_cache = true;
  Penalties penalties;
  SamplingFilters filters;
  int num_return = 1;
  uint64_t seed = 0;
  int beams = 4;
  float length_penalty = 1.0f;
  bool early_stopping = false;
};

// One option: its name on the command line (without "--") and in JSON, its help, and the
// strategies it applies to (empty: all).
struct GenerateField {
  const char* id;    // the canonical name, used in FieldError
  const char* flag;  // CLI: --flag
  const char* json;  // HTTP API field
  const char* help;
  std::vector<Strategy> only_for;  // empty: every strategy
  enum Kind { kInt, kFloat, kBool, kString, kStrings, kU64 } kind;
  std::function<void*(GenerateSettings&)> at;  // where the value lives
  // The value in GenerateSettings stands for "the model's" (eos: -1 until the front end reads
  // the model's EOS), so --help shows no default beside the flag; the help text says it.
  bool default_from_model = false;
};
const std::vector<GenerateField>& generate_fields();
const GenerateField* find_generate_field(const std::string& id);

// A bad value of one option. The message names other fields as {id}; a front end renders it
// with its own names (render_field_error): "--num-return 5 is more than --beams 4" on the
// command line, "n 5 is more than best_of 4" over HTTP.
class FieldError : public UsageError {
 public:
  FieldError(std::string field, const std::string& message);
  const std::string& field() const { return field_; }
  const std::string& message() const { return message_; }

 private:
  std::string field_, message_;
};
// "{field} message" with every {id} replaced by name_of(id).
std::string render_field_error(const FieldError& e, const std::function<std::string(const std::string&)>& name_of);
std::string cli_name(const std::string& id);   // "--max-new"
std::string json_name(const std::string& id);  // "max_tokens"

// Settings to options, checking every value (FieldError) and that no option was set for a
// strategy that ignores it (`was_set(id)` tells which ones the user gave).
GenerateOptions to_options(const GenerateSettings& s, const std::function<bool(const std::string&)>& was_set);
// Checks every value (FieldError).
void validate_values(const GenerateOptions& o);
// validate_values, and what depends on the model: the EOS id against the vocabulary, stop strings need a
// tokenizer.
void validate(const GenerateOptions& o, int vocab_size, bool has_tokenizer);

}  // namespace tf
