// tformer tokenize: text to token ids and back, with a model directory's tokenizer or a
// named one. Raw bytes in and out, so that round trips can be checked byte for byte.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "model/model_dir.h"
#include "tokenizer/hf_tokenizer.h"

namespace tf::cli {

void add_tokenize(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, text, file, decode, each;
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
  sub->add_option("--each", o->each,
                  "a JSON array of texts: prints a JSON array of {\"ids\", \"decoded\"}, one per text (one "
                  "tokenizer load for many texts)");
  sub->add_option("--decode", o->decode, "token ids to decode, e.g. 1,2,3 (raw bytes to stdout)");
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
        tok = load_model_dir(o->model).tokenizer;  // the one tokenizer.ggml.* describes
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
    if ((!o->text.empty()) + (!o->file.empty()) + (!o->decode.empty()) + (!o->each.empty()) != 1)
      throw UsageError("tokenize: give exactly one of --text, --file, --each or --decode");
    if (!o->each.empty()) {
      nlohmann::json texts;
      try {
        texts = nlohmann::json::parse(read_file(o->each));
      } catch (const nlohmann::json::exception& e) {
        throw Error(o->each + ": invalid JSON (" + e.what() + ")");
      }
      if (!texts.is_array()) throw Error(o->each + ": expected a JSON array of strings");
      nlohmann::json out = nlohmann::json::array();
      for (const auto& t : texts) {
        if (!t.is_string()) throw Error(o->each + ": expected a JSON array of strings, found " + t.dump());
        const std::string text = t.get<std::string>();
        const std::vector<int> ids = o->no_special ? tok->encode(text) : tok->encode_with_specials(text);
        out.push_back({{"ids", ids}, {"decoded", tok->decode(ids)}});
      }
      // A token sequence may decode to invalid UTF-8: shown as U+FFFD rather than refused.
      std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
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
