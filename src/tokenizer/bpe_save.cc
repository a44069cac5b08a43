// Writing a trained BPE in two formats:
//   - GPT-2's vocab.json ({token: id}) + merges.txt ("#version: 0.2", then "left right" by rank),
//     which load_bpe_tokenizer and `tformer train --tokenizer DIR` read;
//   - Hugging Face's tokenizer.json: model BPE with the same vocab and merges, ByteLevel
//     pre-tokenizer (GPT-2's pattern, no prefix space), ByteLevel decoder, as in gpt2's own file.
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/byte_level.h"

namespace tf {

namespace fs = std::filesystem;

namespace {

fs::path clean_path(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "out/" -> "out"
  return p;
}

// The sibling folder the files are written to; "*.tmp.*" is git-ignored.
fs::path temp_path(const fs::path& dir) {
  return dir.parent_path() / (dir.filename().string() + ".tmp." + std::to_string(::getpid()));
}

void make_temp(const fs::path& tmp, const std::string& dir) {
  std::error_code ec;
  fs::remove_all(tmp, ec);  // left by a killed run that had our pid
  if (!tmp.parent_path().empty()) fs::create_directories(tmp.parent_path(), ec);
  if (!fs::create_directory(tmp, ec) || ec)
    throw Error(dir + ": cannot create the output folder there (" +
                (ec ? ec.message() : std::string("already exists")) + ")");
}

nlohmann::ordered_json vocab_json(const LearnedBpe& m) {
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  for (size_t id = 0; id < m.tokens.size(); ++id) v[byte_level_text(m.tokens[id])] = id;
  return v;
}

// Byte-level symbols never contain a space (it is spelled "Ġ"), so "left right" is unambiguous;
// this string form is read by every tokenizers release, the [left, right] form only since 0.20.
std::string merge_line(const LearnedBpe& m, const std::pair<int, int>& mg) {
  return byte_level_text(m.tokens[mg.first]) + " " + byte_level_text(m.tokens[mg.second]);
}

std::string tokenizer_json(const LearnedBpe& m) {
  using J = nlohmann::ordered_json;
  J merges = J::array();
  for (const auto& mg : m.merges) merges.push_back(merge_line(m, mg));
  const J byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  J j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = J::array();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = byte_level;
  j["post_processor"] = byte_level;
  j["decoder"] = byte_level;
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                // false: merges apply even to pieces that are whole tokens, as tformer does.
                {"ignore_merges", false},
                {"vocab", vocab_json(m)},
                {"merges", merges}};
  return j.dump(2) + "\n";
}

}  // namespace

void check_bpe_out_dir(const std::string& dir) {
  const fs::path p = clean_path(dir);
  if (p.empty()) throw Error("--out is empty");
  if (fs::exists(p)) {
    if (!fs::is_directory(p)) throw Error(dir + ": exists and is not a folder");
    if (!fs::is_empty(p)) throw Error(dir + ": exists and is not empty; refusing to write into it");
  }
  const fs::path tmp = temp_path(p);
  make_temp(tmp, dir);
  std::error_code ec;
  fs::remove(tmp, ec);
}

void save_bpe(const LearnedBpe& m, const std::string& dir) {
  check_bpe_out_dir(dir);
  const fs::path p = clean_path(dir), tmp = temp_path(p);
  make_temp(tmp, dir);
  try {
    write_file_atomic((tmp / "vocab.json").string(), vocab_json(m).dump() + "\n");
    std::string merges = "#version: 0.2\n";
    for (const auto& mg : m.merges) merges += merge_line(m, mg) + "\n";
    write_file_atomic((tmp / "merges.txt").string(), merges);
    write_file_atomic((tmp / "tokenizer.json").string(), tokenizer_json(m));
    std::error_code ec;
    fs::rename(tmp, p, ec);  // rename(2) also replaces an empty folder
    if (ec) throw Error(dir + ": cannot move the finished files into place (" + ec.message() + ")");
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace tf
