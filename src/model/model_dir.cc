#include "model/model_dir.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
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

void load_weights(Model& model, const std::string& path) {
  SafeTensors st(path);
  const Config& c = model.config();
  for (const auto& t : model.table()) {
    const TensorInfo* info = st.find("transformer." + t.name);
    if (!info) info = st.find(t.name);
    if (!info)
      throw Error(path + ": missing tensor " + t.name + " (config: n_layer " + std::to_string(c.n_layer) +
                  ", tie_word_embeddings " + (c.tie_word_embeddings ? "true" : "false") + ")");
    std::vector<long> want = t.shape;
    if (t.conv1d) std::swap(want[0], want[1]);
    if (info->shape != want)
      throw Error(path + ": tensor " + info->name + " has shape " + shape_str(info->shape) + ", config wants " +
                  shape_str(want));
    float* dst = model.mutable_params().data() + t.offset;
    if (!t.conv1d) {
      st.read_f32(*info, dst);
    } else {  // HF Conv1D [C, OC] -> our [OC, C]
      const std::vector<float> src = st.read_f32(*info);
      const long R = want[0], K = want[1];
      for (long r = 0; r < R; ++r)
        for (long k = 0; k < K; ++k) dst[k * R + r] = src[r * K + k];
    }
  }
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
  if (!fs::is_directory(dir)) throw Error(dir + ": not a model directory");
  LoadedModel m;
  m.dir = dir;
  const Config c = load_config(dir + "/config.json");
  m.model = std::make_unique<Model>(c);
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
    const std::string name = t.name == "lm_head.weight" ? t.name : "transformer." + t.name;
    out.push_back({name, shape, src});
  }
  write_safetensors(dir + "/model.safetensors", out);
  write_file_atomic(dir + "/config.json", config_to_json(c).dump(2) + "\n");
  if (!tokenizer_dir.empty() && fs::absolute(tokenizer_dir) != fs::absolute(dir)) {
    for (const char* f : {"vocab.json", "merges.txt"})
      write_file_atomic(dir + "/" + f, read_file(tokenizer_dir + "/" + f));
  }
}

}  // namespace tf
