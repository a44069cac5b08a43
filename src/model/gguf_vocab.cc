#include "model/gguf_vocab.h"

#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/spm.h"

namespace tf {

namespace {

// ---------------------------------------------------------------------------------------------
// llama.cpp's pre-tokenizer types (llama-vocab.cpp, llm_tokenizer_bpe and impl::load), as
// tokenizer.json pre-tokenizers. The contractions are spelled '[sS] as llama.cpp spells them.

constexpr const char* kLlama3Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen35Regex =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// llama.cpp's regexes for pre "default" (or none): punctuation runs, GPT-2's split, digit
// runs, then ASCII digits by threes.
constexpr const char* kDefaultPunct = R"([\p{P}\$\+<=>\^~\|]+)";

struct PreType {
  std::vector<const char*> names;  // tokenizer.ggml.pre values
  std::vector<const char*> regexes;
  bool gpt2_split;     // then GPT-2's own pattern (ByteLevel's use_regex)
  bool ignore_merges;  // a word that is a token is that token (Llama-3)
  bool add_bos;        // llama.cpp's default before tokenizer.ggml.add_bos_token
  bool clean_spaces;   // decode drops " " before ?!., and some contractions
};

const PreType kPreTypes[] = {
    {{"llama-bpe", "llama3", "llama-v3"}, {kLlama3Regex}, false, true, true, true},
    {{"dbrx", "smaug-bpe"}, {kLlama3Regex}, false, false, false, true},
    {{"qwen2", "deepseek-r1-qwen"}, {kQwen2Regex}, false, false, false, false},
    {{"stablelm2", "megrez"}, {kQwen2Regex}, false, false, false, true},
    {{"qwen35"}, {kQwen35Regex}, false, false, false, false},
    {{"smollm", "command-r"}, {R"(\p{N})"}, true, false, false, false},
    {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b"}, {R"(\p{N})"}, true, false, false, true},
    {{"mpt", "olmo", "phi-2"}, {}, true, false, false, true},
    {{"default", ""}, {kDefaultPunct, kGpt2Pattern, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false, false, true},
};

const PreType* find_pre(const std::string& name) {
  for (const PreType& p : kPreTypes)
    for (const char* n : p.names)
      if (name == n) return &p;
  return nullptr;
}

// Tokens llama.cpp makes CONTROL by their text whatever their type (end of turn / generation,
// fill-in-the-middle markers; impl::load's "control-looking token" overrides).
const std::unordered_set<std::string>& control_by_text() {
  // clang-format off
  static const std::unordered_set<std::string> k = {
      // end of turn / message / generation
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
      "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<\uff5cend\u2581of\u2581sentence\uff5c>",
      "<end_of_utterance>", "<|eom_id|>", "<|return|>", "<|call|>", "</s>", "<eos>",
      // fill-in-the-middle
      "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\u2581<PRE>",
      "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "\u2581<SUF>",
      "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "\u2581<MID>",
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
      "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  // clang-format on
  return k;
}

// ---------------------------------------------------------------------------------------------
// Typed reads of the tokenizer.ggml.* keys.

class Keys {
 public:
  explicit Keys(const Gguf& g) : g_(g) {}
  const GgufValue* find(const std::string& key, GgufType type) const {
    const GgufValue* v = g_.find_value(key);
    if (v && v->type != type)
      throw Error(g_.label() + ": metadata " + key + " has type " + std::to_string(int(v->type)) + ", expected " +
                  std::to_string(int(type)));
    return v;
  }
  const GgufValue* array(const std::string& key, GgufType elem, size_t at_least) const {
    const GgufValue* v = find(key, GgufType::kArray);
    if (v && v->elem != elem)
      throw Error(g_.label() + ": metadata " + key + " must be an array of type " + std::to_string(int(elem)));
    if (v && v->array.size() < at_least)
      throw Error(g_.label() + ": metadata " + key + " has " + std::to_string(v->array.size()) + " entries, " +
                  "tokenizer.ggml.tokens has " + std::to_string(at_least));
    return v;
  }
  std::string str(const std::string& key) const {
    const GgufValue* v = find(key, GgufType::kString);
    return v ? v->s : std::string();
  }
  bool flag(const std::string& key, bool dflt) const {
    const GgufValue* v = find(key, GgufType::kBool);
    return v ? v->b : dflt;
  }
  // An id key; dflt when absent or outside the vocabulary (as llama.cpp), -1 if dflt is too.
  int id(const std::string& key, int dflt, size_t n) const {
    const GgufValue* v = g_.find_value(key);
    if (v && (v->type == GgufType::kU32 || v->type == GgufType::kI32)) {
      const int64_t k = v->type == GgufType::kU32 ? int64_t(v->u) : v->i;
      if (k >= 0 && size_t(k) < n) return int(k);
    }
    return dflt >= 0 && size_t(dflt) < n ? dflt : -1;
  }

 private:
  const Gguf& g_;
};

// ---------------------------------------------------------------------------------------------
// Byte-level BPE: tformer's tokenizer.json pieces behind llama.cpp's token types and decoding.

// llama.cpp's decode-time clean-up (impl::detokenize when clean_spaces): " ?", " !", " .", " ,"
// lose the space; " ' " loses both; " 's", " 'm", " 're", " 've" lose theirs. Done in place as
// llama.cpp does, so that each pass sees the previous one's bytes exactly as it would.
void clean_spaces(std::string& t) {
  size_t n = t.size(), k = n ? 1 : 0;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --k;
    t[k++] = x;
  }
  n = k, k = n ? 1 : 0;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --k;
      t[++i] = '\0';
    }
    t[k++] = x;
  }
  n = k, k = n ? 1 : 0;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = t[i + 1];
      const bool two = i + 2 < n && (x1 == 'r' || x1 == 'v') && t[i + 2] == 'e';  // " 're", " 've"
      if (x1 == 's' || x1 == 'm' || two) --k;
    }
    t[k++] = x;
  }
  t.resize(k);
}

class GgufBpeTokenizer final : public Tokenizer {
 public:
  GgufBpeTokenizer(std::unique_ptr<Tokenizer> inner, std::vector<int32_t> types, bool clean)
      : inner_(std::move(inner)), types_(std::move(types)), clean_(clean) {}
  std::vector<int> encode(std::string_view text) const override { return inner_->encode(text); }
  // UNUSED tokens ([PAD] rows) spell nothing in llama.cpp.
  const std::string& token_bytes(int id) const override {
    if (id >= 0 && size_t(id) < types_.size() && types_[size_t(id)] != kTokenNormal &&
        types_[size_t(id)] != kTokenControl && types_[size_t(id)] != kTokenUserDefined &&
        types_[size_t(id)] != kTokenUnknown)
      return no_bytes();
    return inner_->token_bytes(id);
  }
  std::string decode(std::span<const int> ids) const override {
    std::string out = Tokenizer::decode(ids);
    if (clean_) clean_spaces(out);
    return out;
  }
  int vocab_size() const override { return inner_->vocab_size(); }
  TokenizerKind kind() const override { return inner_->kind(); }
  int bos_id() const override { return inner_->bos_id(); }
  int eos_id() const override { return inner_->eos_id(); }
  bool is_special(int id) const override { return inner_->is_special(id); }
  std::vector<int> prefix_ids() const override { return inner_->prefix_ids(); }
  std::vector<int> suffix_ids() const override { return inner_->suffix_ids(); }

 private:
  std::unique_ptr<Tokenizer> inner_;
  std::vector<int32_t> types_;
  bool clean_;
};

// llama.cpp's default id for a special token the keys do not name, where that token has the
// type (an ordinary "," is no BOS), else -1.
int default_id(int id, const std::vector<int32_t>& types, int32_t type) {
  return id >= 0 && size_t(id) < types.size() && types[size_t(id)] == type ? id : -1;
}

std::unique_ptr<Tokenizer> bpe_tokenizer(const Gguf& g, const Keys& keys, const PreType& pre,
                                         const std::vector<std::string>& tokens, const std::vector<int32_t>& types) {
  using nlohmann::json;
  const size_t n = tokens.size();
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < n; ++id) {
    vocab[tokens[id]] = id;
    if (types[id] == kTokenControl || types[id] == kTokenUserDefined || types[id] == kTokenUnknown)
      added.push_back({{"id", id}, {"content", tokens[id]}, {"special", types[id] != kTokenUserDefined}});
  }
  json merges = json::array();
  if (const GgufValue* m = keys.array("tokenizer.ggml.merges", GgufType::kString, 0))
    for (const GgufValue& e : m->array) merges.push_back(e.s);
  else
    throw Error(g.label() + ": tokenizer.ggml.model \"gpt2\" without tokenizer.ggml.merges");
  json steps = json::array();
  for (const char* r : pre.regexes)
    steps.push_back({{"type", "Split"}, {"pattern", {{"Regex", r}}}, {"behavior", "Isolated"}, {"invert", false}});
  steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", pre.gpt2_split}});
  const json j = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", pre.ignore_merges}}},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", steps}}},
      {"decoder", {{"type", "ByteLevel"}}},
  };
  // llama.cpp's defaults for a "gpt2" vocabulary, BOS = EOS = 11 where the keys say nothing,
  // count only where token 11 is a CONTROL one (node-llama-cpp reports no BOS otherwise).
  const int dflt = default_id(11, types, kTokenControl);
  const int bos = keys.id("tokenizer.ggml.bos_token_id", dflt, n),
            eos = keys.id("tokenizer.ggml.eos_token_id", dflt, n);
  json config = json::object();
  if (bos >= 0) config["bos_token"] = tokens[size_t(bos)];
  if (eos >= 0) config["eos_token"] = tokens[size_t(eos)];
  config["add_bos_token"] = keys.flag("tokenizer.ggml.add_bos_token", pre.add_bos) && bos >= 0;
  config["add_eos_token"] = keys.flag("tokenizer.ggml.add_eos_token", false) && eos >= 0;
  std::string json_text, config_text;
  try {  // nlohmann refuses to write a string that is not UTF-8 (found by fuzz_gguf_vocab)
    json_text = j.dump();
    config_text = config.dump();
  } catch (const json::exception&) {
    throw Error(g.label() +
                ": tokenizer.ggml.tokens or .merges holds a string that is not UTF-8 (a byte-level "
                "vocabulary spells its bytes as characters)");
  }
  auto inner = make_hf_tokenizer(json_text, g.label() + ": tokenizer.ggml.*", config_text, g.label());
  return std::make_unique<GgufBpeTokenizer>(std::move(inner), types, pre.clean_spaces);
}

}  // namespace

std::unique_ptr<Tokenizer> gguf_vocab_tokenizer(const Gguf& g, std::string* why) {
  const Keys keys(g);
  const std::string model = keys.str("tokenizer.ggml.model"), pre_name = keys.str("tokenizer.ggml.pre");
  const PreType* pre = model == "gpt2" ? find_pre(pre_name) : nullptr;
  if (model != "llama" && !pre) {
    *why = model == "gpt2" ? "tokenizer.ggml.pre \"" + pre_name + "\" is not one tformer reads"
                           : "tokenizer.ggml.model \"" + model + "\" is not one tformer reads";
    return nullptr;
  }
  const GgufValue* tv = keys.array("tokenizer.ggml.tokens", GgufType::kString, 0);
  if (!tv) throw Error(g.label() + ": tokenizer.ggml.model \"" + model + "\" without tokenizer.ggml.tokens");
  const size_t n = tv->array.size();
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, kTokenNormal);
  std::unordered_set<std::string> seen;
  for (size_t id = 0; id < n; ++id) {
    tokens[id] = tv->array[id].s;
    if (tokens[id].empty()) tokens[id] = "[EMPTY_" + std::to_string(id) + "]";  // as llama.cpp names them
    if (!seen.insert(tokens[id]).second)
      throw Error(g.label() + ": tokenizer.ggml.tokens has \"" + tokens[id] + "\" twice (the second at id " +
                  std::to_string(id) + ")");
  }
  if (const GgufValue* t = keys.array("tokenizer.ggml.token_type", GgufType::kI32, n))
    for (size_t id = 0; id < n; ++id) types[id] = int32_t(t->array[id].i);
  for (size_t id = 0; id < n; ++id)
    if (control_by_text().contains(tokens[id])) types[id] = kTokenControl;

  if (pre) return bpe_tokenizer(g, keys, *pre, tokens, types);

  SpmVocab v;
  v.scores.assign(n, 0.0f);
  if (const GgufValue* s = keys.array("tokenizer.ggml.scores", GgufType::kF32, n))
    for (size_t id = 0; id < n; ++id) v.scores[id] = float(s->array[id].f);
  v.bos = keys.id("tokenizer.ggml.bos_token_id", default_id(1, types, kTokenControl), n);
  v.eos = keys.id("tokenizer.ggml.eos_token_id", default_id(2, types, kTokenControl), n);
  v.unk = keys.id("tokenizer.ggml.unknown_token_id", default_id(0, types, kTokenUnknown), n);
  v.add_space_prefix = keys.flag("tokenizer.ggml.add_space_prefix", true);
  v.add_bos = keys.flag("tokenizer.ggml.add_bos_token", true);
  v.add_eos = keys.flag("tokenizer.ggml.add_eos_token", false);
  v.tokens = std::move(tokens);
  v.types = std::move(types);
  return make_spm_tokenizer(std::move(v), g.label());
}

}  // namespace tf
