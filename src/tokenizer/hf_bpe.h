// The BPE model of a Hugging Face tokenizer.json ("model": {"type": "BPE", ...}), as
// huggingface/tokenizers defines it (tokenizers/src/models/bpe/): a word starts as one
// symbol per character, then the adjacent pair with the lowest merge rank is merged, the
// leftmost first on ties, until no ranked pair is left.
//   - merges as "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs (>= 0.20);
//   - ignore_merges (Llama-3): a word that is itself a token is that token;
//   - byte_fallback (Llama-2, Mistral): a character missing from the vocabulary becomes the
//     <0xNN> tokens of its UTF-8 bytes; fuse_unk: a run of unknown characters is one <unk>.
// Encoding a word of n symbols costs O(n log n) (a heap of candidate pairs over a linked
// list), so one long word (a megabyte of CJK without spaces) is not quadratic.
#pragma once
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/string_hash.h"

namespace tf {

class BpeModel {
 public:
  // model: tokenizer.json's "model" object; where: the file, for error messages.
  BpeModel(const nlohmann::json& model, const std::string& where);

  // Appends the ids of one pre-tokenized word, written in the vocabulary's alphabet (for
  // byte-level BPE, already mapped through bytes_to_unicode). Thread-safe.
  void encode(std::string_view word, std::vector<int>& out) const;

  // Token strings by id, as the vocabulary spells them ("" where ids have a gap).
  const std::vector<std::string>& tokens() const { return tokens_; }
  // The id of a token string, or -1.
  int id_of(std::string_view token) const;

 private:
  struct Merge {
    int rank, id;
  };
  static uint64_t pair_key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void initial_symbols(std::string_view word, std::vector<int>& syms) const;
  void merge_symbols(std::vector<int>& syms) const;

  StringMap<int> ids_;
  std::vector<std::string> tokens_;
  std::unordered_map<uint64_t, Merge> merges_;
  int unk_id_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int byte_ids_[256];  // <0xNN> tokens when byte_fallback, else -1
  mutable std::mutex cache_mu_;
  mutable StringMap<std::vector<int>> cache_;
};

}  // namespace tf
