// Learning a GPT-2 byte-level BPE tokenizer from a corpus (Sennrich et al. 2016, as GPT-2 uses
// it): cut the text with GPT-2's pre-tokenizer, count each distinct piece ("word"), start every
// word as its bytes, then repeatedly merge the most frequent adjacent pair of symbols.
//
// The rule, stated once and kept by both trainers below:
//   - ids 0-255 are the bytes (so the vocabulary extends tformer's byte tokenizer); learned
//     tokens take the next ids in the order they are learned;
//   - a pair's count is the sum, over words, of word count x adjacent occurrences in the word
//     ("aaa" holds (a,a) twice);
//   - the pair merged next has the highest count; ties go to the smaller left id, then the
//     smaller right id;
//   - a merge rewrites every word left to right, non-overlapping ("aaa" -> "aa a");
//   - every merge makes a new token, so merges = vocab - 256: the merges inside any occurrence
//     of a token run exactly as they would on its bytes alone (a merge across its edge would have
//     stopped it forming), so a token is always made by the same last merge and a+b never
//     spells a token that exists already; both trainers assert it;
//   - training stops when the vocabulary reaches vocab_size or no word has two symbols left.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tf {

// Distinct pre-tokenized pieces of a corpus and how often each occurs.
struct WordCounts {
  std::unordered_map<std::string, int64_t> count;
  int64_t bytes = 0;  // corpus bytes seen
};
// Adds the GPT-2 pieces of text (the same cut tformer's BPE encoder makes) to words.
void count_words(std::string_view text, WordCounts& words);

struct LearnedBpe {
  std::vector<std::string> tokens;          // id -> raw bytes; ids 0-255 are the bytes
  std::vector<std::pair<int, int>> merges;  // in rank order: (left id, right id)
};

struct BpeProgress {
  int vocab, vocab_target;  // tokens so far (256 + learned) and the goal
  long merges;              // merges applied so far
};

struct BpeTrainOptions {
  int vocab_size = 4096;
  // Called after every merge; may be empty.
  std::function<void(const BpeProgress&)> on_progress;
};

// The fast trainer: pair counts are updated only in the words a merge touches, found through
// an index from pair to words; the next pair comes from a lazy max-heap. Cost per merge is
// the size of the words holding the pair, not the corpus.
LearnedBpe train_bpe(const WordCounts& words, const BpeTrainOptions& opt);

// Writes vocab.json + merges.txt (GPT-2's files, read by load_bpe_tokenizer) and tokenizer.json
// (Hugging Face's BPE with ByteLevel pre-tokenizer and decoder) into dir, which must not exist
// or be empty. The files go to a sibling temp folder that is renamed to dir at the end, so dir
// appears whole or not at all.
void save_bpe(const LearnedBpe& model, const std::string& dir);
// Throws Error naming dir when save_bpe could not write there (exists and is not empty, or its
// parent cannot take a new folder); lets a caller fail before a long training run.
void check_bpe_out_dir(const std::string& dir);

}  // namespace tf
