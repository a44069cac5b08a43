// tformer tokenize: text to token ids and back, with a model directory's tokenizer or a
// named one. Raw bytes in and out, so that round trips can be checked byte for byte.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "model/model_dir.h"
#include "tokenizer/hf_tokenizer.h"

namespace tf::cli {

namespace {

std::string to_hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string h;
  for (unsigned char b : bytes) (h += kDigits[b >> 4]) += kDigits[b & 15];
  return h;
}

std::string from_hex(const std::string& h, const std::string& where) {
  auto nibble = [&](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw Error(where + ": \"hex\" holds '" + std::string(1, c) + "', not a hex digit");
  };
  if (h.size() % 2) throw Error(where + ": \"hex\" has an odd number of digits");
  std::string out;
  for (size_t i = 0; i < h.size(); i += 2) out += char(nibble(h[i]) * 16 + nibble(h[i + 1]));
  return out;
}

// --batch: many requests through one loaded tokenizer (loading a 128k vocabulary costs
// seconds; a request microseconds). One JSON object a line in, one a line out, in order:
//   {"text": "..."} or {"hex": "68c3a9"}, optional "special": false  ->  {"ids": [...]}
//   {"decode": [1, 2], optional "skip_special": true}               ->  {"text": "...", "hex": "..."}
// "hex" carries bytes that are not UTF-8; "text" spells those as U+FFFD.
void tokenize_batch(const Tokenizer& tok, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": invalid JSON (" + e.what() + ")");
    }
    auto flag = [&](const char* key, bool dflt) {
      if (!j.contains(key)) return dflt;
      if (!j[key].is_boolean()) throw Error(where + ": \"" + key + "\" must be true or false");
      return j[key].get<bool>();
    };
    nlohmann::json out;
    if (j.is_object() && j.contains("decode")) {
      if (!j["decode"].is_array()) throw Error(where + ": \"decode\" must be an array of token ids");
      std::vector<int> ids;
      for (const auto& v : j["decode"]) {
        if (!v.is_number_integer()) throw Error(where + ": \"decode\" holds " + v.dump() + ", not a token id");
        ids.push_back(v.get<int>());
      }
      if (flag("skip_special", false)) std::erase_if(ids, [&](int id) { return tok.is_special(id); });
      const std::string s = tok.decode(ids);
      out = {{"text", s}, {"hex", to_hex(s)}};
    } else if (j.is_object() && (j.contains("text") || j.contains("hex"))) {
      const char* key = j.contains("text") ? "text" : "hex";
      if (!j[key].is_string()) throw Error(where + ": \"" + key + "\" must be a string");
      const std::string text = key[0] == 't' ? j[key].get<std::string>() : from_hex(j[key].get<std::string>(), where);
      out = {{"ids", flag("special", true) ? tok.encode_with_specials(text) : tok.encode(text)}};
    } else {
      throw Error(where + ": expected {\"text\": ...}, {\"hex\": ...} or {\"decode\": [...]}");
    }
    const std::string s = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
  }
}

}  // namespace

void add_tokenize(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, text, file, decode, batch;
    bool no_special = false, skip_special = false, info = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("tokenize", "Encode text to token ids, or decode ids to text");
  auto* m = sub->add_option("--model", o->model, "use this model directory's (or .gguf file's) tokenizer");
  sub->add_option("--tokenizer", o->tokenizer,
                  "byte, or a folder with tokenizer.json (+ tokenizer_config.json) or vocab.json + merges.txt")
      ->excludes(m);
  sub->add_option("--text", o->text, "text to encode");
  sub->add_option("--file", o->file, "file whose bytes to encode");
  sub->add_option("--decode", o->decode, "token ids to decode, e.g. 1,2,3 (raw bytes to stdout)");
  sub->add_option("--batch", o->batch,
                  "JSON Lines file of requests, one tokenizer load for all: {\"text\"|\"hex\": ..., \"special\": "
                  "bool} encodes, {\"decode\": [ids], \"skip_special\": bool} decodes; one JSON line out each");
  sub->add_flag("--no-special", o->no_special,
                "encode the text alone, without the BOS/EOS the tokenizer adds (default: add them, as "
                "Hugging Face's add_special_tokens=True)");
  sub->add_flag("--skip-special", o->skip_special, "decode without special tokens (<s>, <|im_end|>, ...)");
  sub->add_flag("--info", o->info, "print the tokenizer's kind, vocabulary size and BOS/EOS ids");
  sub->callback([o] {
    std::unique_ptr<Tokenizer> tok;
    if (!o->model.empty()) {
      // A tokenizer.json needs no config.json: tokenizing a Llama or Qwen directory works even
      // where its model is not one tformer runs.
      if (o->model.ends_with(".gguf")) {
        LoadedModel m = load_model_dir(o->model);  // the tokenizer tokenizer.ggml.* describes
        if (!m.tokenizer && !m.no_tokenizer.empty())
          throw Error(o->model + ": no tokenizer tformer can build (" + m.no_tokenizer + ")");
        tok = std::move(m.tokenizer);
      } else if (has_hf_tokenizer(o->model)) {
        tok = load_hf_tokenizer(o->model);
      } else {
        const Config c = load_config(o->model + "/config.json");
        tok = load_dir_tokenizer(o->model, c);
      }
      if (!tok) throw Error(o->model + ": this model directory has no tokenizer");
    } else if (!o->tokenizer.empty()) {
      tok = load_tokenizer(o->tokenizer);
    } else {
      throw UsageError("tokenize: give --model or --tokenizer");
    }
    if (o->info) {
      std::printf("kind %s\nvocab_size %d\nbos_id %d\neos_id %d\n", tokenizer_kind_name(tok->kind()), tok->vocab_size(),
                  tok->bos_id(), tok->eos_id());
      return;
    }
    if ((!o->text.empty()) + (!o->file.empty()) + (!o->decode.empty()) + (!o->batch.empty()) != 1)
      throw UsageError("tokenize: give exactly one of --text, --file, --decode or --batch");
    if (!o->batch.empty()) {
      tokenize_batch(*tok, o->batch);
      return;
    }
    if (!o->decode.empty()) {
      std::vector<int> ids = parse_token_list(o->decode);
      if (o->skip_special) std::erase_if(ids, [&](int id) { return tok->is_special(id); });
      const std::string s = tok->decode(ids);
      std::fwrite(s.data(), 1, s.size(), stdout);
      return;
    }
    const std::string text = o->file.empty() ? o->text : read_file(o->file);
    const std::vector<int> ids = o->no_special ? tok->encode(text) : tok->encode_with_specials(text);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? "," : "", ids[i]);
    std::printf("\n");
  });
}

}  // namespace tf::cli
