// tformer tokenize: text to token ids and back, with a model directory's tokenizer or a
// named one. Raw bytes in and out, so that round trips can be checked byte for byte.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "model/model_dir.h"

namespace tf::cli {

void add_tokenize(CLI::App& app) {
  struct Opts {
    std::string model, tokenizer, text, file, decode;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("tokenize", "Encode text to token ids, or decode ids to text");
  auto* m = sub->add_option("--model", o->model, "use this model directory's tokenizer");
  sub->add_option("--tokenizer", o->tokenizer, "byte, or a folder with vocab.json + merges.txt")->excludes(m);
  sub->add_option("--text", o->text, "text to encode");
  sub->add_option("--file", o->file, "file whose bytes to encode");
  sub->add_option("--decode", o->decode, "token ids to decode, e.g. 1,2,3 (raw bytes to stdout)");
  sub->callback([o] {
    std::unique_ptr<Tokenizer> tok;
    if (!o->model.empty()) {
      const Config c = load_config(o->model + "/config.json");
      tok = load_dir_tokenizer(o->model, c);
      if (!tok) throw Error(o->model + ": this model directory has no tokenizer");
    } else if (!o->tokenizer.empty()) {
      tok = load_tokenizer(o->tokenizer);
    } else {
      throw UsageError("tokenize: give --model or --tokenizer");
    }
    if ((!o->text.empty()) + (!o->file.empty()) + (!o->decode.empty()) != 1)
      throw UsageError("tokenize: give exactly one of --text, --file or --decode");
    if (!o->decode.empty()) {
      const std::string s = tok->decode(parse_token_list(o->decode));
      std::fwrite(s.data(), 1, s.size(), stdout);
      return;
    }
    const std::vector<int> ids = tok->encode(o->file.empty() ? o->text : read_file(o->file));
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? "," : "", ids[i]);
    std::printf("\n");
  });
}

}  // namespace tf::cli
