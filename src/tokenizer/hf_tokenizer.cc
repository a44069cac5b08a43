#include "tokenizer/hf_tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/hf_bpe.h"
#include "tokenizer/hf_decoder.h"
#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_pretokenizer.h"

namespace tf {

namespace {

nlohmann::json parse_json(const std::string& text, const std::string& label) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(label + ": invalid JSON (" + e.what() + ")");
  }
}

const nlohmann::json& model_of(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    throw Error(where + ": model must be an object");
  const auto& m = j["model"];
  const std::string type = m.value("type", std::string("(none)"));
  if (type != "BPE") throw Error(where + ": model.type \"" + type + "\" is not supported (only BPE)");
  return m;
}

class HfTokenizer final : public Tokenizer {
 public:
  // config: tokenizer_config.json's object (empty when there is none), read from config_path.
  HfTokenizer(const nlohmann::json& j, const std::string& where, const nlohmann::json& config,
              const std::string& config_path)
      : normalizer_(j.value("normalizer", nlohmann::json()), where),
        pre_tokenizer_(j.value("pre_tokenizer", nlohmann::json()), where),
        model_(model_of(j, where), where),
        added_(j.value("added_tokens", nlohmann::json()), where),
        decoder_(j.value("decoder", nlohmann::json()), where) {
    // Ids: the model's vocabulary, with added tokens at their ids (over a vocabulary entry of
    // the same id, as Llama-2's <unk>, <s>, </s> are both).
    std::vector<std::string> text = model_.tokens();
    std::vector<bool> added(text.size(), false);
    for (const AddedToken& t : added_.tokens()) {
      if (size_t(t.id) >= text.size()) {
        text.resize(size_t(t.id) + 1);
        added.resize(size_t(t.id) + 1, false);
      }
      text[t.id] = t.content;
      added[t.id] = true;
    }
    bytes_.resize(text.size());
    special_.assign(text.size(), false);
    for (size_t id = 0; id < text.size(); ++id) bytes_[id] = decoder_.token_bytes(text[id], added[id]);
    for (const AddedToken& t : added_.tokens()) special_[t.id] = special_[t.id] || t.special;

    if (!config.is_object()) throw Error(config_path + ": expected a JSON object");
    bos_ = token_of_config(config, "bos_token", config_path);
    eos_ = token_of_config(config, "eos_token", config_path);
    if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array())
      for (const auto& t : config["additional_special_tokens"])
        if (const int id = id_of_token_value(t); id >= 0) special_[id] = true;
    post_processor(j.value("post_processor", nlohmann::json()), where, "post_processor");
    // tokenizer_config.json's add_bos_token / add_eos_token, where given, override the
    // post-processor, as transformers' LlamaTokenizerFast rebuilds its template from them.
    for (auto [key, token, ids] :
         {std::tuple{"add_bos_token", bos_, &prefix_}, std::tuple{"add_eos_token", eos_, &suffix_}}) {
      if (!config.contains(key) || config[key].is_null()) continue;
      if (!config[key].is_boolean()) throw Error(config_path + ": " + key + " must be true or false");
      if (config[key].get<bool>() && token < 0)
        throw Error(config_path + ": " + key + " is true but the token is not set or not in the vocabulary");
      *ids = config[key].get<bool>() ? std::vector<int>{token} : std::vector<int>{};
    }
    if (eos_ < 0 && suffix_.size() == 1) eos_ = suffix_[0];
    if (bos_ < 0 && prefix_.size() == 1) bos_ = prefix_[0];
  }

  std::vector<int> encode(std::string_view text) const override {
    std::vector<int> ids;
    for (const AddedTokens::Piece& p : added_.split(text)) {
      if (p.token >= 0) {
        ids.push_back(added_.tokens()[p.token].id);
        continue;
      }
      for (const std::string& word : pre_tokenizer_(normalizer_(std::string(p.text)))) model_.encode(word, ids);
    }
    return ids;
  }
  std::string decode(std::span<const int> ids) const override {
    std::string out = Tokenizer::decode(ids);
    decoder_.finish(out);
    return out;
  }
  const std::string& token_bytes(int id) const override {
    return id >= 0 && id < int(bytes_.size()) ? bytes_[id] : no_bytes();
  }
  int vocab_size() const override { return int(bytes_.size()); }
  TokenizerKind kind() const override { return TokenizerKind::kHfBpe; }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  bool is_special(int id) const override { return id >= 0 && id < vocab_size() && special_[id]; }
  std::vector<int> prefix_ids() const override { return prefix_; }
  std::vector<int> suffix_ids() const override { return suffix_; }

 private:
  int id_of(std::string_view token) const {
    if (const int k = added_.find(token); k >= 0) return added_.tokens()[k].id;
    return model_.id_of(token);
  }
  // A token in tokenizer_config.json: "<s>", or {"content": "<s>", "__type": "AddedToken"}.
  int id_of_token_value(const nlohmann::json& v) const {
    if (v.is_string()) return id_of(v.get<std::string>());
    if (v.is_object() && v.contains("content") && v["content"].is_string())
      return id_of(v["content"].get<std::string>());
    return -1;
  }
  int token_of_config(const nlohmann::json& config, const char* key, const std::string& path) const {
    if (!config.contains(key) || config[key].is_null()) return -1;
    const int id = id_of_token_value(config[key]);
    if (id < 0) throw Error(path + ": " + key + " " + config[key].dump() + " is not a token of the vocabulary");
    return id;
  }

  // TemplateProcessing's "single" template around sequence A becomes prefix_ and suffix_;
  // ByteLevel adds nothing (its offsets trimming does not change ids).
  void post_processor(const nlohmann::json& p, const std::string& where, const std::string& key) {
    if (p.is_null()) return;
    const std::string type = p.value("type", std::string());
    if (type == "ByteLevel") return;
    if (type == "Sequence") {
      if (!p.contains("processors") || !p["processors"].is_array())
        throw Error(where + ": " + key + ".processors must be an array");
      for (size_t i = 0; i < p["processors"].size(); ++i)
        post_processor(p["processors"][i], where, key + ".processors[" + std::to_string(i) + "]");
      return;
    }
    if (type != "TemplateProcessing")
      throw Error(where + ": " + key + ".type \"" + type +
                  "\" is not supported (supported: TemplateProcessing, ByteLevel, Sequence)");
    if (!p.contains("single") || !p["single"].is_array()) throw Error(where + ": " + key + ".single must be an array");
    const auto& specials = p.value("special_tokens", nlohmann::json::object());
    bool after = false;
    for (const auto& item : p["single"]) {
      if (item.contains("Sequence")) {
        after = true;
        continue;
      }
      const std::string name = item.contains("SpecialToken") ? item["SpecialToken"].value("id", std::string()) : "";
      if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array())
        throw Error(where + ": " + key + ".single names special token \"" + name +
                    "\" that special_tokens does not define");
      for (const auto& id : specials[name]["ids"]) (after ? suffix_ : prefix_).push_back(id.get<int>());
    }
  }

  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BpeModel model_;
  AddedTokens added_;
  Decoder decoder_;
  std::vector<std::string> bytes_;
  std::vector<bool> special_;
  int bos_ = -1, eos_ = -1;
  std::vector<int> prefix_, suffix_;
};

}  // namespace

bool has_hf_tokenizer(const std::string& dir) { return std::filesystem::exists(dir + "/tokenizer.json"); }

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json", config_path = dir + "/tokenizer_config.json";
  return make_hf_tokenizer(read_file(path), path,
                           std::filesystem::exists(config_path) ? read_file(config_path) : std::string(), config_path);
}

std::unique_ptr<Tokenizer> make_hf_tokenizer(const std::string& json, const std::string& label,
                                             const std::string& config_json, const std::string& config_label) {
  const nlohmann::json j = parse_json(json, label);
  if (!j.is_object()) throw Error(label + ": expected a JSON object");
  const nlohmann::json config = config_json.empty() ? nlohmann::json::object() : parse_json(config_json, config_label);
  try {
    return std::make_unique<HfTokenizer>(j, label, config, config_label);
  } catch (const nlohmann::json::exception& e) {  // a value of the wrong type deep inside
    throw Error(label + ": " + e.what());
  }
}

}  // namespace tf
