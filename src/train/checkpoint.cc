#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "model/model_dir.h"

namespace fs = std::filesystem;

namespace tf {

namespace {
void fsync_dir(const fs::path& d) {
  const int fd = open(d.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}
}  // namespace

void save_checkpoint(const std::string& out, const Model& model, const Optimizer& opt, const TrainState& state,
                     const std::string& tokenizer_dir) {
  const fs::path root(out), cur = root / "tformer_state", fresh = root / "tformer_state.new",
                            old = root / "tformer_state.old";
  fs::remove_all(fresh);
  fs::create_directories(fresh);
  save_model_dir(fresh.string(), model);
  std::vector<TensorOut> moments;
  const long n = long(model.params().size());
  if (!opt.m.empty()) {
    moments.push_back({"adam.m", {n}, opt.m.data()});
    moments.push_back({"adam.v", {n}, opt.v.data()});
  }
  write_safetensors(
      (fresh / "optimizer.safetensors").string(), moments,
      {{"format", "tformer-optimizer"}, {"kind", optimizer_name(opt.config().kind)}, {"t", std::to_string(opt.t)}});
  const nlohmann::json j = {{"step", state.step},
                            {"options", state.options},
                            {"data_fingerprint", state.data_fingerprint},
                            {"data_tokens", state.data_tokens},
                            {"elapsed_s", state.elapsed_s},
                            {"optimizer", optimizer_name(opt.config().kind)}};
  write_file_atomic((fresh / "state.json").string(), j.dump(2) + "\n");
  fsync_dir(fresh);
  if (fs::exists(cur)) {
    fs::remove_all(old);
    fs::rename(cur, old);
  }
  fs::rename(fresh, cur);
  fsync_dir(root);
  fs::remove_all(old);
  save_model_dir(out, model, tokenizer_dir);
}

std::string find_state_dir(const std::string& out) {
  for (const char* name : {"tformer_state", "tformer_state.old"}) {
    const fs::path p = fs::path(out) / name;
    if (fs::exists(p / "state.json")) return p.string();
  }
  return "";
}

TrainState read_train_state(const std::string& state_dir) {
  const std::string path = state_dir + "/state.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
    TrainState s;
    s.step = j.at("step").get<long>();
    s.options = j.at("options");
    s.data_fingerprint = j.at("data_fingerprint").get<uint64_t>();
    s.data_tokens = j.at("data_tokens").get<long>();
    s.elapsed_s = j.value("elapsed_s", 0.0);
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not a tformer training state (" + e.what() + ")");
  }
}

void load_checkpoint(const std::string& state_dir, Model& model, Optimizer& opt) {
  const Config saved = load_config(state_dir + "/config.json");
  const Config& c = model.config();
  if (saved.vocab_size != c.vocab_size || saved.n_embd != c.n_embd || saved.n_layer != c.n_layer ||
      saved.n_head != c.n_head || saved.n_positions != c.n_positions ||
      saved.tie_word_embeddings != c.tie_word_embeddings)
    throw Error(state_dir + ": the checkpoint's model shapes differ from the run's");
  load_weights(model, state_dir + "/model.safetensors");
  const std::string path = state_dir + "/optimizer.safetensors";
  SafeTensors st(path);
  const TensorInfo* m = st.find("adam.m");
  const TensorInfo* v = st.find("adam.v");
  if (opt.config().kind == OptimizerKind::kAdamW) {
    if (!m || !v) throw Error(path + ": holds no AdamW moments; the checkpoint was not made with adamw");
    if (m->numel() != opt.m.size() || v->numel() != opt.v.size())
      throw Error(path + ": moments have " + std::to_string(m->numel()) + " values, the model " +
                  std::to_string(opt.m.size()));
    st.read_f32(*m, opt.m.data());
    st.read_f32(*v, opt.v.data());
  } else if (m) {
    throw Error(path + ": holds AdamW moments but the run uses " + optimizer_name(opt.config().kind));
  }
  opt.t = read_train_state(state_dir).step;
}

}  // namespace tf
