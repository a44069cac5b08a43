// tformer tokenizer: tokenizers as artefacts of their own.
//   tokenizer train --data FILE|DIR --vocab N --out DIR
// learns a GPT-2 byte-level BPE (rule in tokenizer/bpe_train.h) and writes vocab.json +
// merges.txt (for `tformer train --tokenizer DIR`) and tokenizer.json (for Hugging Face).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"

namespace tf::cli {

namespace {

namespace fs = std::filesystem;

// GPT-4 has ~100k tokens, Gemma 256k; a million is a typo, not a plan.
constexpr int kMaxVocab = 1 << 20;

// The corpus files: FILE itself, or every regular file under DIR, in sorted order.
std::vector<std::string> corpus_files(const std::string& data) {
  if (!fs::exists(data)) throw Error(data + ": no such file or folder");
  if (!fs::is_directory(data)) return {data};
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(data))
    if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(data + ": the folder holds no files");
  return files;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct TrainTokenizerOpts {
  std::string data, out;
  int vocab = 4096;
};

void train_tokenizer(const TrainTokenizerOpts& o) {
  if (o.vocab < 256)
    throw UsageError("--vocab " + std::to_string(o.vocab) + ": must be at least 256 (the byte symbols)");
  if (o.vocab > kMaxVocab)
    throw UsageError("--vocab " + std::to_string(o.vocab) + ": larger than " + std::to_string(kMaxVocab));
  check_bpe_out_dir(o.out);  // fail now, not after the training run
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = stdout_is_terminal();
  double shown = -1;  // when the live line was last drawn
  const std::vector<std::string> files = corpus_files(o.data);
  WordCounts words;
  for (size_t i = 0; i < files.size(); ++i) {
    count_words(read_file(files[i]), words);
    const double t = seconds_since(t0);
    if (tty && t - shown >= 0.1) {
      shown = t;
      std::printf("\r\033[Kcounting pieces: file %zu/%zu, %.1f MB | %.1f s", i + 1, files.size(),
                  double(words.bytes) / 1e6, t);
      std::fflush(stdout);
    }
  }
  if (words.bytes == 0) throw Error(o.data + ": the corpus is empty");
  std::printf("%s%s: %zu file%s, %.2f MB, %zu distinct pieces\n", tty ? "\r\033[K" : "", o.data.c_str(), files.size(),
              files.size() == 1 ? "" : "s", double(words.bytes) / 1e6, words.count.size());
  std::fflush(stdout);
  shown = -1;

  auto on_progress = [&](const BpeProgress& p) {
    const double t = seconds_since(t0);
    if (!tty || (t - shown < 0.1 && p.vocab < p.vocab_target)) return;
    shown = t;
    std::printf("\r\033[Kmerges %d/%d | %.1f s", p.vocab - 256, p.vocab_target - 256, t);
    std::fflush(stdout);
  };
  const LearnedBpe model = train_bpe(words, {.vocab_size = o.vocab, .on_progress = on_progress});
  const double train_s = seconds_since(t0);
  if (tty && shown >= 0) std::printf("\n");
  if (int(model.tokens.size()) < o.vocab)
    std::printf("note: the corpus ran out of pairs to merge at vocab %zu (asked for %d)\n", model.tokens.size(),
                o.vocab);
  save_bpe(model, o.out);

  // Compression as tformer will see it: the written files, loaded back, over the corpus.
  const auto tok = load_bpe_tokenizer(o.out);
  size_t n_tokens = 0;
  for (const auto& f : files) n_tokens += tok->encode(read_file(f)).size();
  std::printf(
      "vocab %d, %zu merges, %.2f s; %.3f bytes/token on the corpus (%lld bytes, %zu tokens); "
      "wrote %s (vocab.json, merges.txt, tokenizer.json)\n",
      tok->vocab_size(), model.merges.size(), train_s, double(words.bytes) / double(n_tokens), (long long)words.bytes,
      n_tokens, o.out.c_str());
}

}  // namespace

void add_tokenizer(CLI::App& app) {
  auto* group = app.add_subcommand("tokenizer", "Tokenizer tools: train a GPT-2 byte-level BPE");
  group->require_subcommand(1);
  auto o = std::make_shared<TrainTokenizerOpts>();
  auto* sub = group->add_subcommand("train", "Learn a GPT-2 byte-level BPE from text");
  sub->add_option("--data", o->data, "text file, or a folder: every regular file under it, sorted")->required();
  sub->add_option("--vocab", o->vocab, "vocabulary size, the 256 byte symbols included")->capture_default_str();
  sub->add_option("--out", o->out, "output folder; must not exist or be empty")->required();
  sub->callback([o] { train_tokenizer(*o); });
}

}  // namespace tf::cli
