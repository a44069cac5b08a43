#include "model/model_dir.h"

#include <filesystem>
#include <functional>
#include <map>
#include <tuple>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "model/gguf_model.h"
#include "tokenizer/hf_tokenizer.h"

namespace fs = std::filesystem;

namespace tf {

Config load_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": invalid JSON (" + e.what() + ")");
  }
  return config_from_json(j, path);
}

namespace {
// Where each tensor of the model's table lives: a lookup over one or more open safetensors
// files (a sharded checkpoint). Returns null when no file holds the name.
using TensorLookup = std::function<std::pair<const SafeTensors*, const TensorInfo*>(const std::string& name)>;

// Reads every tensor of the table through lookup, checking shapes against the config. GPT-2
// names are tried with and without "transformer."; Llama's are HF's in full. Tensors the table
// does not name (HF's attn.bias buffers, rotary_emb.inv_freq) are never read.
void load_tensors(Model& model, const std::string& label, const TensorLookup& lookup) {
  const Config& c = model.config();
  for (const auto& t : model.table()) {
    auto [st, info] = c.llama() ? lookup(t.name) : lookup("transformer." + t.name);
    if (!info) std::tie(st, info) = lookup(t.name);
    if (!info)
      throw Error(label + ": missing tensor " + t.name + " (config: " + std::to_string(c.n_layer) +
                  " layers, tie_word_embeddings " + (c.tie_word_embeddings ? "true" : "false") +
                  (c.llama() ? std::string(", attention_bias ") + (c.qkv_bias ? "true" : "false") : "") + ")");
    std::vector<long> want = t.shape;
    if (t.conv1d) std::swap(want[0], want[1]);
    if (info->shape != want)
      throw Error(st->label() + ": tensor " + info->name + " has shape " + shape_str(info->shape) + ", config wants " +
                  shape_str(want));
    float* dst = model.mutable_params().data() + t.offset;
    if (!t.conv1d) {
      st->read_f32(*info, dst);
    } else {  // HF Conv1D [C, OC] -> our [OC, C]
      const std::vector<float> src = st->read_f32(*info);
      const long R = want[0], K = want[1];
      for (long r = 0; r < R; ++r)
        for (long k = 0; k < K; ++k) dst[k * R + r] = src[r * K + k];
    }
  }
}

// A sharded checkpoint: model.safetensors.index.json's weight_map names, for each tensor, the
// shard that holds it. Every shard is opened (memory-mapped) once; a missing shard, or a tensor
// the index places in a shard that does not hold it, is one error naming both.
void load_sharded(Model& model, const std::string& dir, const std::string& index_path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(index_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(index_path + ": invalid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(index_path + ": no weight_map object");
  std::map<std::string, std::unique_ptr<SafeTensors>> shards;
  std::map<std::string, std::pair<const SafeTensors*, const TensorInfo*>> where;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) throw Error(index_path + ": weight_map[\"" + name + "\"] must be a file name");
    const std::string f = file.get<std::string>();
    if (f.find('/') != std::string::npos || f == "..")
      throw Error(index_path + ": shard name \"" + f + "\" must be a file in the folder");
    auto& st = shards[f];
    if (!st) {
      if (!fs::exists(dir + "/" + f))
        throw Error(index_path + ": shard " + f + " (holding " + name + ") is missing from " + dir);
      st = std::make_unique<SafeTensors>(dir + "/" + f);
    }
    const TensorInfo* info = st->find(name);
    if (!info) throw Error(index_path + ": names tensor " + name + " in shard " + f + ", which does not hold it");
    where[name] = {st.get(), info};
  }
  load_tensors(model, index_path, [&](const std::string& name) -> std::pair<const SafeTensors*, const TensorInfo*> {
    auto it = where.find(name);
    if (it == where.end()) return {nullptr, nullptr};
    return it->second;
  });
}
}  // namespace

void load_weights(Model& model, const std::string& path) {
  SafeTensors st(path);
  load_tensors(model, path, [&](const std::string& name) { return std::pair{&st, st.find(name)}; });
}

std::unique_ptr<Tokenizer> load_dir_tokenizer(const std::string& dir, const Config& c) {
  std::unique_ptr<Tokenizer> tok;
  // tokenizer.json first: it also carries the added tokens that vocab.json + merges.txt lack.
  if (has_hf_tokenizer(dir))
    tok = load_hf_tokenizer(dir);
  else if (fs::exists(dir + "/vocab.json") && fs::exists(dir + "/merges.txt"))
    tok = load_bpe_tokenizer(dir);
  else if (c.tokenizer == "byte")
    tok = make_byte_tokenizer();
  if (tok && tok->vocab_size() > c.vocab_size)
    throw Error(dir + ": tokenizer has " + std::to_string(tok->vocab_size()) +
                " tokens but the model's vocab_size is " + std::to_string(c.vocab_size));
  return tok;
}

LoadedModel load_model_dir(const std::string& dir) {
  if (dir.ends_with(".gguf")) return load_gguf_model(dir);
  if (!fs::is_directory(dir)) throw Error(dir + ": not a model directory");
  LoadedModel m;
  m.dir = dir;
  const Config c = load_config(dir + "/config.json");
  m.model = std::make_unique<Model>(c);
  const std::string index = dir + "/model.safetensors.index.json";
  if (!fs::exists(dir + "/model.safetensors") && fs::exists(index))
    load_sharded(*m.model, dir, index);
  else
    load_weights(*m.model, dir + "/model.safetensors");
  m.tokenizer = load_dir_tokenizer(dir, c);
  return m;
}

void save_model_dir(const std::string& dir, const Model& model, const std::string& tokenizer_dir) {
  fs::create_directories(dir);
  const Config& c = model.config();
  // Conv1D tensors go back to HF's [C, OC]; the transposed copies live until the write ends.
  std::vector<std::vector<float>> transposed;
  transposed.reserve(model.table().size());  // pointers into it must stay valid
  std::vector<TensorOut> out;
  for (const auto& t : model.table()) {
    const float* src = model.params().data() + t.offset;
    std::vector<long> shape = t.shape;
    if (t.conv1d) {
      const long R = t.shape[0], K = t.shape[1];  // ours: [OC=R, C=K]
      std::vector<float> tr(t.numel);
      for (long r = 0; r < R; ++r)
        for (long k = 0; k < K; ++k) tr[k * R + r] = src[r * K + k];
      transposed.push_back(std::move(tr));
      src = transposed.back().data();
      std::swap(shape[0], shape[1]);
    }
    const std::string name = t.name == "lm_head.weight" || c.llama() ? t.name : "transformer." + t.name;
    out.push_back({name, shape, src});
  }
  write_safetensors(dir + "/model.safetensors", out);
  write_file_atomic(dir + "/config.json", config_to_json(c).dump(2) + "\n");
  if (!tokenizer_dir.empty() && fs::absolute(tokenizer_dir) != fs::absolute(dir)) {
    // Every tokenizer file the folder has: Hugging Face's tokenizer.json (+ tokenizer_config.json,
    // for BOS/EOS and the chat template) and GPT-2's vocab.json + merges.txt (a folder from
    // `tformer tokenizer train` has both).
    std::vector<std::string> files;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"})
      if (fs::exists(tokenizer_dir + "/" + f)) files.emplace_back(f);
    for (const auto& f : files) write_file_atomic(dir + "/" + f, read_file(tokenizer_dir + "/" + f));
  }
}

}  // namespace tf
