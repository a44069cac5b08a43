// tformer info: what a model folder or GGUF file holds, without running it: architecture and
// shapes from its config, the parameter count and what the weights and the KV cache take in
// memory, the GGUF tensor types, and the tokenizer. Loading validates the whole file, so a
// file info accepts is one every other command accepts.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "io/gguf.h"
#include "model/model_dir.h"

namespace tf::cli {
namespace {

std::string mb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

nlohmann::json describe(const std::string& path) {
  const LoadedModel m = load_model_dir(path);
  const Config& c = m.model->config();
  nlohmann::json j;
  j["model"] = path;
  j["format"] = path.ends_with(".gguf") ? "gguf" : "folder";
  if (path.ends_with(".gguf")) {
    std::map<std::string, int> types;  // ggml type -> tensors of it
    const Gguf g(path);
    for (const GgufTensorInfo& t : g.tensors()) ++types[ggml_type_name(t.type)];
    j["tensor_types"] = types;
  }
  j["arch"] = c.llama() ? "llama" : "gpt2";
  j["model_type"] = c.model_type;
  j["layers"] = c.n_layer;
  j["hidden"] = c.n_embd;
  j["heads"] = c.n_head;
  j["kv_heads"] = c.kv_heads();
  j["head_dim"] = c.head_size();
  j["ffn"] = c.llama() ? c.intermediate_size : 4 * c.n_embd;
  j["vocab"] = c.vocab_size;
  j["context"] = c.n_positions;
  j["tied_embeddings"] = c.tie_word_embeddings;
  if (c.llama()) j["rope_theta"] = c.rope.theta;
  j["norm_eps"] = c.layer_norm_epsilon;
  const size_t n = m.model->params().size();
  j["parameters"] = n;
  j["fp32_bytes"] = n * sizeof(float);
  // K and V of every layer for one position, fp32 (model/kv_cache.h).
  j["kv_bytes_per_token"] = size_t(2) * c.n_layer * c.kv_dim() * sizeof(float);
  if (m.tokenizer) {
    j["tokenizer"] = {{"kind", tokenizer_kind_name(m.tokenizer->kind())},
                      {"tokens", m.tokenizer->vocab_size()},
                      {"bos", m.tokenizer->bos_id()},
                      {"eos", m.tokenizer->eos_id()}};
  } else {
    j["tokenizer"] = nullptr;
    j["no_tokenizer"] = m.no_tokenizer.empty() ? "the model carries none" : m.no_tokenizer;
  }
  return j;
}

void print_text(const nlohmann::json& j) {
  std::cout << "model       " << j["model"].get<std::string>() << " (" << j["format"].get<std::string>();
  if (j.contains("tensor_types")) {
    std::cout << ":";
    for (const auto& [type, count] : j["tensor_types"].items()) std::cout << " " << count << " " << type;
  }
  std::cout << ")\n";
  std::cout << "arch        " << j["arch"].get<std::string>() << " (" << j["model_type"].get<std::string>() << "), "
            << j["layers"] << " layers, hidden " << j["hidden"] << ", " << j["heads"] << " heads (" << j["kv_heads"]
            << " KV), head dim " << j["head_dim"] << ", FFN " << j["ffn"] << "\n";
  std::cout << "vocab       " << j["vocab"] << ", context " << j["context"];
  if (j.contains("rope_theta")) std::cout << ", rope theta " << j["rope_theta"].get<double>();
  std::cout << ", norm eps " << j["norm_eps"].get<double>()
            << (j["tied_embeddings"].get<bool>() ? ", tied embeddings" : ", separate LM head") << "\n";
  std::cout << "parameters  " << j["parameters"] << " (" << mb(j["fp32_bytes"].get<double>()) << " as fp32)\n";
  const double kv = j["kv_bytes_per_token"].get<double>();
  std::cout << "KV cache    " << j["kv_bytes_per_token"] << " bytes a token, " << mb(kv * j["context"].get<double>())
            << " at the full context\n";
  if (j["tokenizer"].is_null()) {
    std::cout << "tokenizer   none: " << j["no_tokenizer"].get<std::string>() << " (use --tokens)\n";
  } else {
    const auto& t = j["tokenizer"];
    auto id = [](const nlohmann::json& v) { return v.get<int>() < 0 ? std::string("none") : v.dump(); };
    std::cout << "tokenizer   " << t["kind"].get<std::string>() << ", " << t["tokens"] << " tokens, BOS "
              << id(t["bos"]) << ", EOS " << id(t["eos"]) << "\n";
  }
}

}  // namespace

void add_info(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub =
      app.add_subcommand("info", "What a model folder or .gguf file holds: shapes, parameters, memory, tokenizer");
  sub->add_option("--model", o->model, "model directory or .gguf file")->required();
  sub->add_flag("--json", o->json, "print it as one JSON object");
  sub->callback([o] {
    const nlohmann::json j = describe(o->model);
    if (o->json)
      std::cout << j.dump() << "\n";
    else
      print_text(j);
  });
}

}  // namespace tf::cli
