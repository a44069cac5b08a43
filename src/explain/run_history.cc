#include "explain/run_history.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/file.h"

namespace fs = std::filesystem;

namespace tf {

nlohmann::json run_loss_curve(const std::string& dir, size_t max_points) {
  const fs::path path = fs::path(dir) / "metrics.jsonl";
  std::ifstream in(path);
  if (!in) return nullptr;
  std::vector<std::pair<long, double>> train, val;
  std::string line;
  while (std::getline(in, line)) {
    // A run killed mid-write can leave a torn last line: skip what does not parse.
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number()) continue;
    const long step = j["step"].get<long>();
    if (j.contains("loss") && j["loss"].is_number()) train.emplace_back(step, j["loss"].get<double>());
    if (j.contains("val_loss") && j["val_loss"].is_number()) val.emplace_back(step, j["val_loss"].get<double>());
  }
  if (train.empty()) return nullptr;
  const size_t every = (train.size() + max_points - 1) / max_points;
  nlohmann::json steps = nlohmann::json::array(), loss = nlohmann::json::array();
  for (size_t i = 0; i < train.size(); ++i)
    if (i % every == 0 || i + 1 == train.size()) {
      steps.push_back(train[i].first);
      loss.push_back(train[i].second);
    }
  nlohmann::json vs = nlohmann::json::array(), vl = nlohmann::json::array();
  for (auto& [s, l] : val) {
    vs.push_back(s);
    vl.push_back(l);
  }
  return {{"source", path.string()}, {"step", steps},  {"loss", loss},
          {"val_step", vs},          {"val_loss", vl}, {"points_of", train.size()}};
}

std::string validation_text(const std::string& dir) {
  const fs::path state = fs::path(dir) / "tformer_state" / "state.json";
  if (!fs::exists(state)) return "";
  try {
    const auto j = nlohmann::json::parse(read_file(state.string()));
    const auto& o = j.at("options");
    const std::string data = o.at("data");
    const double vf = o.at("val_fraction");
    if (vf <= 0 || data.empty() || !fs::exists(data)) return "";
    std::string text;
    if (fs::is_directory(data)) {  // the trainer's order: the folder's files, sorted, concatenated
      std::vector<fs::path> files;
      for (auto& e : fs::directory_iterator(data))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (auto& f : files) text += read_file(f.string());
      const size_t held = size_t(std::floor(vf * double(text.size())));
      return text.substr(text.size() - held);
    }
    // One file: read only its held-out tail (a corpus can be far larger than its 1%).
    const auto n = fs::file_size(data);
    const auto held = std::uintmax_t(std::floor(vf * double(n)));
    std::ifstream f(data, std::ios::binary);
    f.seekg(std::streamoff(n - held));
    text.resize(size_t(held));
    f.read(text.data(), std::streamsize(held));
    text.resize(size_t(f.gcount()));
    return text;
  } catch (const std::exception&) {
    return "";  // a run folder from an older format or a moved data file: no default, not an error
  }
}

std::string continuation_in(const std::string& text, const std::string& prompt, size_t max_bytes) {
  if (prompt.empty()) return "";
  const size_t at = text.find(prompt);
  return at == std::string::npos ? "" : text.substr(at + prompt.size(), max_bytes);
}

nlohmann::json validation_sample(const std::string& text, size_t prompt_bytes, size_t truth_bytes) {
  // The first full line (the split point usually falls inside one) long enough to hold a prompt;
  // its leading blanks are skipped, and the prompt ends at a word boundary.
  for (size_t nl = text.find('\n'); nl != std::string::npos && nl + 1 < text.size(); nl = text.find('\n', nl + 1)) {
    const size_t start = text.find_first_not_of(" \t", nl + 1);
    const size_t eol = text.find('\n', nl + 1);
    if (start == std::string::npos || start >= eol) continue;
    const size_t cut = text.find(' ', start + prompt_bytes);
    if (cut == std::string::npos || cut >= eol) continue;
    return {{"prompt", text.substr(start, cut - start)}, {"truth", text.substr(cut, truth_bytes)}};
  }
  return nullptr;
}

}  // namespace tf
