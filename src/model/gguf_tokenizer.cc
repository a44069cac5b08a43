#include "model/gguf_tokenizer.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "model/gguf_vocab.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/hf_tokenizer.h"

namespace fs = std::filesystem;

namespace tf {

namespace {

// llama.cpp's llama_token_type.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// The Split regexes of the tokenizer.json files llama.cpp has a pre-tokenizer for, by its
// tokenizer.ggml.pre name (llama-vocab.cpp's LLAMA_VOCAB_PRE_TYPE_LLAMA3 and _QWEN2).
const std::pair<const char*, const char*> kPreTokenizers[] = {
    {"llama-bpe",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"qwen2",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
};

// UTF-8 characters in s (bytes that do not continue one).
size_t chars(const std::string& s) {
  size_t k = 0;
  for (unsigned char b : s) k += (b & 0xc0) != 0x80;
  return k;
}

bool flag(const nlohmann::json& o, const char* key) {
  return o.contains(key) && o[key].is_boolean() && o[key].get<bool>();
}

// tokenizer.ggml.pre for a byte-level tokenizer.json: its Split regex (Llama-3, Qwen2/3), or
// GPT-2's own when the ByteLevel step splits (use_regex) and nothing else does.
std::string pre_tokenizer_name(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
  std::vector<nlohmann::json> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers"))
    steps.assign(pre["pretokenizers"].begin(), pre["pretokenizers"].end());
  else if (pre.is_object())
    steps.push_back(pre);
  // SmolLM2's: numbers one digit at a time, then GPT-2's split with no prefix space.
  if (steps.size() == 2 && steps[0].value("type", "") == "Digits" && flag(steps[0], "individual_digits") &&
      steps[1].value("type", "") == "ByteLevel" && flag(steps[1], "use_regex") && !flag(steps[1], "add_prefix_space"))
    return "smollm";
  std::string regex, name;
  int splits = 0;
  for (const auto& s : steps) {
    const std::string type = s.value("type", "");
    if (type == "Split" && s.contains("pattern") && s["pattern"].contains("Regex")) {
      regex = s["pattern"]["Regex"].get<std::string>();
      ++splits;
    } else if (type == "ByteLevel" && flag(s, "use_regex")) {
      name = "gpt-2";
      ++splits;
    } else if (type != "ByteLevel") {
      ++splits;  // anything else splits in a way llama.cpp has no name for
    }
  }
  if (splits == 1 && !regex.empty())
    for (auto [n, r] : kPreTokenizers)
      if (regex == r) name = n;
  if (splits != 1 || name.empty())
    throw Error(path + ": pre_tokenizer " + pre.dump().substr(0, 200) +
                " has no llama.cpp equivalent (exported: Llama-3's and Qwen2's Split regexes, GPT-2's ByteLevel, " +
                "SmolLM2's Digits + ByteLevel)");
  return name;
}

// A sentencepiece-style tokenizer.json must be one llama.cpp's SPM tokenizer reproduces:
// spaces as "▁", optionally a "▁" prepended (add_space_prefix), no pre-tokenizer.
bool space_prefix(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json& n = j.contains("normalizer") ? j["normalizer"] : nlohmann::json();
  std::vector<nlohmann::json> steps;
  if (n.is_object() && n.value("type", "") == "Sequence" && n.contains("normalizers"))
    steps.assign(n["normalizers"].begin(), n["normalizers"].end());
  else if (n.is_object())
    steps.push_back(n);
  bool prepend = false, replace = false;
  for (const auto& s : steps) {
    const std::string type = s.value("type", "");
    if (type == "Prepend" && s.value("prepend", "") == "\u2581" && !replace) {
      prepend = true;
    } else if (type == "Replace" && s.contains("pattern") && s["pattern"].value("String", "") == " " &&
               s.value("content", "") == "\u2581") {
      replace = true;
    } else {
      replace = false;  // forces the error below
      break;
    }
  }
  const bool no_pre = !j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null();
  if (!replace || !no_pre)
    throw Error(path +
                ": a byte_fallback BPE tokenizer is exported only as Llama-2's (normalizer Prepend \"\u2581\" + " +
                "Replace \" \" -> \"\u2581\", no pre_tokenizer); this one has normalizer " + n.dump().substr(0, 200));
  return prepend;
}

void add_tokenizer_json(std::vector<std::pair<std::string, GgufValue>>& kv, const Config& c, const std::string& dir) {
  const std::string path = dir + "/tokenizer.json", config_path = dir + "/tokenizer_config.json";
  const std::string text = read_file(path);
  const std::string config_text = fs::exists(config_path) ? read_file(config_path) : std::string();
  const std::unique_ptr<Tokenizer> tok = make_hf_tokenizer(text, path, config_text, config_path);  // validates
  const nlohmann::json j = nlohmann::json::parse(text);
  const nlohmann::json& m = j["model"];
  const bool spm = flag(m, "byte_fallback");
  const std::string unk =
      m.contains("unk_token") && m["unk_token"].is_string() ? m["unk_token"].get<std::string>() : "";

  const size_t n = size_t(c.vocab_size);
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, kUnused);
  auto place = [&](long id, const std::string& t, int32_t type) {
    if (id < 0 || size_t(id) >= n)
      throw Error(path + ": token " + t + " has id " + std::to_string(id) + ", outside the model's vocab_size " +
                  std::to_string(n));
    tokens[size_t(id)] = t;
    types[size_t(id)] = type;
  };
  for (const auto& [t, id] : m["vocab"].items()) {
    const bool byte = spm && t.size() == 6 && t.starts_with("<0x") && t.ends_with(">");
    place(id.get<long>(), t, !unk.empty() && t == unk ? kUnknown : byte ? kByte : kNormal);
  }
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    const int id = a["id"].get<int>();
    const std::string t = a["content"].get<std::string>();
    place(id, t, t == unk ? kUnknown : tok->is_special(id) ? kControl : kUserDefined);
  }
  for (size_t id = 0; id < n; ++id)
    if (tokens[id].empty()) tokens[id] = "[PAD" + std::to_string(id) + "]";  // rows no token has

  // Merges as "a b" lines; a pair of strings ("a", "b") in newer files.
  std::vector<std::string> merges;
  for (const auto& mg : m.value("merges", nlohmann::json::array()))
    merges.push_back(mg.is_array() ? mg[0].get<std::string>() + " " + mg[1].get<std::string>() : mg.get<std::string>());

  if (spm) {
    const bool prefix = space_prefix(j, path);
    // llama.cpp's SPM tokenizer merges the adjacent pair whose result scores highest (ties:
    // leftmost); HF's BPE the pair of lowest merge rank. Minus the rank of a token's first
    // merge orders them alike (they can differ only where two merges make the same token).
    // Tokens no merge makes are single characters, bytes or specials, never a merge result;
    // longer ones get the lowest score so that they are merged last, if ever.
    std::map<std::string, size_t> id_of;
    for (size_t id = 0; id < n; ++id) id_of.emplace(tokens[id], id);
    std::vector<float> scores(n, 0.0f);
    std::vector<bool> made(n, false);
    for (size_t r = 0; r < merges.size(); ++r) {
      const size_t sp = merges[r].find(' ');
      if (sp == std::string::npos) continue;
      auto it = id_of.find(merges[r].substr(0, sp) + merges[r].substr(sp + 1));
      if (it == id_of.end() || made[it->second]) continue;
      made[it->second] = true;
      scores[it->second] = -float(r);
    }
    for (size_t id = 0; id < n; ++id)
      if (!made[id] && types[id] == kNormal && chars(tokens[id]) > 1) scores[id] = -1e9f;
    GgufValue s;
    s.type = GgufType::kArray;
    s.elem = GgufType::kF32;
    for (float f : scores) s.array.push_back(GgufValue::f32(f));
    kv.emplace_back("tokenizer.ggml.model", GgufValue::str("llama"));
    kv.emplace_back("tokenizer.ggml.pre", GgufValue::str("default"));
    kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(std::move(tokens)));
    kv.emplace_back("tokenizer.ggml.scores", std::move(s));
    kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(types));
    kv.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue::boolean(prefix));
    if (const auto it = id_of.find(unk); !unk.empty() && it != id_of.end())
      kv.emplace_back("tokenizer.ggml.unknown_token_id", GgufValue::u32(uint32_t(it->second)));
  } else {
    kv.emplace_back("tokenizer.ggml.model", GgufValue::str("gpt2"));
    kv.emplace_back("tokenizer.ggml.pre", GgufValue::str(pre_tokenizer_name(j, path)));
    kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(std::move(tokens)));
    kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(types));
    kv.emplace_back("tokenizer.ggml.merges", GgufValue::strings(std::move(merges)));
  }
  const int bos = c.bos_token_id >= 0 ? c.bos_token_id : tok->bos_id();
  const int eos = !c.eos_token_ids.empty() ? c.eos_token_ids[0] : tok->eos_id();
  if (bos >= 0) kv.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(uint32_t(bos)));
  if (eos >= 0) kv.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(uint32_t(eos)));
  // Said explicitly: llama.cpp's default (BOS on for most vocabularies) is not the tokenizer's.
  const std::vector<int> prefix = tok->prefix_ids(), suffix = tok->suffix_ids();
  if (prefix.size() > 1 || (prefix.size() == 1 && prefix[0] != bos) || suffix.size() > 1 ||
      (suffix.size() == 1 && suffix[0] != eos))
    throw Error(path + ": the post_processor adds tokens other than BOS before and EOS after a text, " +
                "which llama.cpp's add_bos_token / add_eos_token cannot say");
  kv.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(!prefix.empty()));
  kv.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(!suffix.empty()));
  kv.emplace_back("tformer.tokenizer.json", GgufValue::str(text));
  if (!config_text.empty()) kv.emplace_back("tformer.tokenizer_config.json", GgufValue::str(config_text));
}

// vocab.json + merges.txt (GPT-2's files, or `tformer tokenizer train`'s), or tformer's
// byte-level tokenizer as its 256 byte tokens.
void add_gpt2_tokenizer(std::vector<std::pair<std::string, GgufValue>>& kv, const Config& c, const std::string& dir) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  if (c.tokenizer == "byte") {
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_level_text(std::string(1, char(b))));
    kv.emplace_back("tformer.tokenizer", GgufValue::str("byte"));
  } else {
    nlohmann::json vocab;
    try {
      vocab = nlohmann::json::parse(read_file(dir + "/vocab.json"));
    } catch (const nlohmann::json::exception& e) {
      throw Error(dir + "/vocab.json: invalid JSON (" + e.what() + ")");
    }
    if (!vocab.is_object()) throw Error(dir + "/vocab.json: expected an object {token: id}");
    tokens.resize(size_t(c.vocab_size));
    for (auto& [tok, id] : vocab.items()) {
      if (!id.is_number_integer() || id.get<long>() < 0 || id.get<long>() >= c.vocab_size)
        throw Error(dir + "/vocab.json: token id " + id.dump() + " is outside the model's vocab_size");
      tokens[size_t(id.get<long>())] = tok;
    }
    const std::string text = read_file(dir + "/merges.txt");
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find('\n', i);
      if (j == std::string::npos) j = text.size();
      std::string line = text.substr(i, j - i);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && !line.starts_with("#version")) merges.push_back(line);
      i = j + 1;
    }
  }
  // GPT-2's <|endoftext|> is CONTROL; ids no token has are UNUSED.
  for (const auto& t : tokens)
    types.push_back(t.empty() ? kUnused : t.starts_with("<|") && t.ends_with("|>") ? kControl : kNormal);
  while (tokens.size() < size_t(c.vocab_size)) {  // rows the tokenizer never produces
    tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
    types.push_back(kUnused);
  }
  for (size_t id = 0; id < tokens.size(); ++id)
    if (tokens[id].empty()) tokens[id] = "[PAD" + std::to_string(id) + "]";
  kv.emplace_back("tokenizer.ggml.model", GgufValue::str("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", GgufValue::str("gpt-2"));
  kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(std::move(tokens)));
  kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(types));
  kv.emplace_back("tokenizer.ggml.merges", GgufValue::strings(std::move(merges)));
  if (c.bos_token_id >= 0) kv.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(uint32_t(c.bos_token_id)));
  if (!c.eos_token_ids.empty())
    kv.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(uint32_t(c.eos_token_ids[0])));
}

}  // namespace

void add_gguf_tokenizer(std::vector<std::pair<std::string, GgufValue>>& kv, const Config& c, const std::string& dir) {
  if (!dir.empty() && has_hf_tokenizer(dir))
    add_tokenizer_json(kv, c, dir);
  else if ((!dir.empty() && fs::exists(dir + "/vocab.json") && fs::exists(dir + "/merges.txt")) ||
           c.tokenizer == "byte")
    add_gpt2_tokenizer(kv, c, dir);
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const Gguf& g, const Config& c, std::string* why) {
  if (c.tokenizer == "byte") return make_byte_tokenizer();
  auto string_of = [&](const std::string& key) -> const std::string* {
    const GgufValue* v = g.find_value(key);
    if (!v) return nullptr;
    if (v->type != GgufType::kString) throw Error(g.label() + ": metadata " + key + " must be a string");
    return &v->s;
  };
  std::unique_ptr<Tokenizer> tok;
  if (const std::string* json = string_of("tformer.tokenizer.json")) {
    const std::string* config = string_of("tformer.tokenizer_config.json");
    tok = make_hf_tokenizer(*json, g.label() + ": tformer.tokenizer.json", config ? *config : std::string(),
                            g.label() + ": tformer.tokenizer_config.json");
  } else {
    // llama.cpp's "gpt2" vocabulary with GPT-2's own pre-tokenizer is GPT-2 BPE (what tformer
    // exports); the others llama.cpp's converter writes are read as llama.cpp reads them.
    const std::string* model = string_of("tokenizer.ggml.model");
    const std::string* pre = string_of("tokenizer.ggml.pre");
    if (!model) {
      if (why) *why = "it has no tokenizer.ggml.model";
      return nullptr;
    }
    if (*model == "gpt2" && pre && *pre == "gpt-2") {
      auto strings = [&](const std::string& key) {
        std::vector<std::string> out;
        const GgufValue* v = g.find_value(key);
        if (!v) return out;
        if (v->type != GgufType::kArray || v->elem != GgufType::kString)
          throw Error(g.label() + ": metadata " + key + " must be an array of strings");
        for (const auto& e : v->array) out.push_back(e.s);
        return out;
      };
      const std::vector<std::string> tokens = strings("tokenizer.ggml.tokens");
      if (tokens.empty()) {
        if (why) *why = "tokenizer.ggml.tokens is missing or empty";
        return nullptr;
      }
      tok = make_bpe_tokenizer(tokens, strings("tokenizer.ggml.merges"), g.label());
    } else {
      std::string reason;
      tok = gguf_vocab_tokenizer(g, &reason);
      if (!tok) {
        if (why) *why = reason;
        return nullptr;
      }
    }
  }
  if (tok->vocab_size() > c.vocab_size)
    throw Error(g.label() + ": the tokenizer has " + std::to_string(tok->vocab_size()) +
                " tokens but the model's vocab_size is " + std::to_string(c.vocab_size));
  return tok;
}

}  // namespace tf
