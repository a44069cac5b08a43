// tformer init, eval and export, plus helpers shared by the other commands.
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "model/gguf_model.h"
#include "model/model_dir.h"

namespace fs = std::filesystem;

namespace tf::cli {

std::vector<int> parse_token_list(const std::string& s) {
  std::vector<int> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string item = s.substr(i, j - i);
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > (1L << 30)) throw std::invalid_argument(item);
      ids.push_back(int(v));
    } catch (const std::exception&) {
      throw UsageError("--tokens: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    }
    i = j + 1;
  }
  if (ids.empty()) throw UsageError("--tokens: empty list");
  return ids;
}

void set_threads(int threads) {
  if (threads < 0) throw UsageError("--threads must be >= 0 (0 = all cores)");
  const int cores = omp_get_num_procs();
  if (threads > cores) {
    std::cerr << "tformer: warning: --threads " << threads << " is more than the " << cores << " cores; using " << cores
              << "\n";
    threads = cores;
  }
  if (threads > 0) omp_set_num_threads(threads);
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO); }

void add_init(CLI::App& app) {
  struct Opts {
    std::string preset, config, out, tokenizer = "byte";
    unsigned long seed = 1234;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("init", "Write a randomly initialised model directory (GPT-2 or Llama family)");
  auto* p = sub->add_option("--preset", o->preset, "tiny | small | gpt2 | smollm2-135m");
  auto* c = sub->add_option("--config", o->config, "an HF-style config.json");
  p->excludes(c);
  sub->add_option("--out", o->out, "output model directory")->required();
  sub->add_option("--seed", o->seed, "initialisation seed")->capture_default_str();
  sub->add_option("--tokenizer", o->tokenizer, "byte, or a folder with tokenizer.json or vocab.json + merges.txt")
      ->capture_default_str();
  sub->callback([o, sub] {
    if (o->preset.empty() == o->config.empty()) throw UsageError("init: give exactly one of --preset or --config");
    Config cfg = o->preset.empty() ? load_config(o->config) : preset_config(o->preset);
    if (cfg.vocab_size > 256 && o->tokenizer == "byte" && !sub->count("--tokenizer"))
      throw UsageError("init: the model has vocab_size " + std::to_string(cfg.vocab_size) +
                       ", a byte-level tokenizer would use 256 of its rows: give --tokenizer DIR (GPT-2's vocab.json + "
                       "merges.txt, or one from tformer tokenizer train), or --tokenizer byte to mean it");
    std::string tok_dir;
    if (o->tokenizer == "byte") {
      cfg.tokenizer = "byte";
      if (cfg.vocab_size < 256) throw Error("init: a byte-level model needs vocab_size >= 256");
    } else {
      const auto tok = load_tokenizer(o->tokenizer);
      if (tok->vocab_size() > cfg.vocab_size)
        throw Error("init: tokenizer " + o->tokenizer + " has " + std::to_string(tok->vocab_size()) +
                    " tokens, more than vocab_size " + std::to_string(cfg.vocab_size));
      cfg.tokenizer = "";
      tok_dir = o->tokenizer;
    }
    if (fs::exists(o->out) && !(fs::is_directory(o->out) && fs::is_empty(o->out)))
      throw Error(o->out + ": exists and is not an empty folder; refusing to overwrite it");
    Model model(cfg);
    init_params(cfg, model.mutable_params().data(), o->seed);
    save_model_dir(o->out, model, tok_dir);
    std::cout << "wrote " << o->out << ": " << model.params().size() << " parameters (d=" << cfg.n_embd << ", "
              << cfg.n_layer << " layers, " << cfg.n_head << " heads, vocab " << cfg.vocab_size << ", n_positions "
              << cfg.n_positions << ")\n";
  });
}

std::vector<int> prompt_tokens(const LoadedModel& m, const std::string& prompt, const std::string& tokens) {
  if (!tokens.empty() && !prompt.empty()) throw UsageError("give --prompt or --tokens, not both");
  std::vector<int> ids;
  if (!tokens.empty()) {
    ids = parse_token_list(tokens);
  } else {
    if (!m.tokenizer && !m.no_tokenizer.empty())
      throw Error(m.dir + ": no tokenizer tformer can build (" + m.no_tokenizer + "); use --tokens");
    if (!m.tokenizer)
      throw Error(m.dir +
                  ": this model directory has no tokenizer (no vocab.json + merges.txt, no "
                  "\"tformer_tokenizer\": \"byte\" in config.json); use --tokens");
    ids = m.tokenizer->encode_with_specials(prompt);
  }
  if (ids.empty()) throw UsageError("the prompt is empty");
  return ids;
}

void add_eval(CLI::App& app) {
  struct Opts {
    std::string model, prompt, tokens, dump;
    bool json = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("eval", "Run one parallel pass over a prompt: loss, logits, dump");
  sub->add_option("--model", o->model, "model directory or .gguf file")->required();
  sub->add_option("--prompt", o->prompt, "text (needs the directory's tokenizer)");
  sub->add_option("--tokens", o->tokens, "token ids, e.g. 1,2,3");
  sub->add_option("--dump", o->dump, "write logits, hidden states and attention (safetensors)");
  sub->add_flag("--json", o->json, "print {tokens, loss} as JSON");
  sub->add_option("--threads", o->threads, "threads (0 = all cores)")->capture_default_str();
  sub->callback([o, sub] {
    set_threads(o->threads);
    if (!sub->count("--prompt") && o->tokens.empty()) throw UsageError("eval: give --prompt or --tokens");
    LoadedModel m = load_model_dir(o->model);
    const std::vector<int> ids = prompt_tokens(m, o->prompt, o->tokens);
    const Model& g = *m.model;
    const Config& c = g.config();
    const int T = int(ids.size());
    Workspace ws;
    g.forward(ws, ids.data(), 1, T);
    const float* logits = g.head_all(ws);  // (T, V)
    // Mean next-token cross-entropy: logits at position t predict token t+1.
    double loss = NAN;
    if (T > 1) {
      std::vector<float> losses(T - 1), lse(T - 1);
      cross_entropy_forward(losses.data(), lse.data(), logits, ids.data() + 1, T - 1, c.vocab_size);
      loss = 0;
      for (float l : losses) loss += l;
      loss /= T - 1;
    }
    if (!o->dump.empty()) {
      std::vector<TensorOut> t;
      const long C = c.n_embd, NH = c.n_head;
      t.push_back({"logits", {T, c.vocab_size}, logits});
      for (int l = 0; l <= c.n_layer; ++l) t.push_back({"hidden." + std::to_string(l), {T, C}, ws.hidden(l)});
      t.push_back({"final", {T, C}, ws.final_hidden()});
      for (int l = 1; l <= c.n_layer; ++l) t.push_back({"attn." + std::to_string(l), {NH, T, T}, ws.attention(l - 1)});
      write_safetensors(o->dump, t);
    }
    if (o->json) {
      nlohmann::json j = {{"tokens", ids}, {"loss", T > 1 ? nlohmann::json(loss) : nlohmann::json()}};
      std::cout << j.dump() << "\n";
    } else {
      std::cout << T << " tokens";
      if (T > 1) std::cout << ", loss " << loss << " nats/token (perplexity " << std::exp(loss) << ")";
      std::cout << "\n";
      if (!o->dump.empty()) std::cout << "wrote " << o->dump << "\n";
    }
  });
}

void add_export(CLI::App& app) {
  struct Opts {
    std::string model, out, dtype = "f32";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("export", "Write a model as one GGUF file (llama.cpp's format)");
  sub->add_option("--model", o->model, "model directory")->required();
  sub->add_option("--out", o->out, "output file, ending in .gguf")->required();
  sub->add_option("--dtype", o->dtype, "matrices and embeddings as f32 | f16 | bf16 | q8_0 (norms, biases: f32)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
  sub->callback([o] {
    if (!o->out.ends_with(".gguf")) throw UsageError("export: --out must end in .gguf, got " + o->out);
    const LoadedModel m = load_model_dir(o->model);
    const GgmlType type = o->dtype == "f16"    ? GgmlType::kF16
                          : o->dtype == "bf16" ? GgmlType::kBF16
                          : o->dtype == "q8_0" ? GgmlType::kQ8_0
                                               : GgmlType::kF32;
    export_gguf(o->out, *m.model, o->model.ends_with(".gguf") ? "" : o->model, type);
    std::cout << "wrote " << o->out << ": " << m.model->params().size() << " parameters as " << o->dtype << "\n";
  });
}

}  // namespace tf::cli
