// llama.cpp's SentencePiece tokenizer (tokenizer.ggml.model "llama": Llama-2, TinyLlama,
// Mistral v0.1 as convert_hf_to_gguf.py writes them), from the vocabulary, scores and token
// types alone (llama-vocab.cpp's llm_tokenizer_spm_session; ggml-org/llama.cpp):
//   encode: cut out the special tokens (CONTROL, USER_DEFINED, UNKNOWN) -> per stretch of
//           text: a " " first when add_space_prefix and the stretch starts the text or follows
//           a special token, spaces as "▁" -> one symbol per UTF-8 character -> repeatedly
//           merge the adjacent pair whose concatenation is a token of the highest score (ties:
//           the leftmost) -> a symbol that is no token is its bytes' <0xXX> tokens (else the
//           one-byte token, else UNKNOWN).
//   decode: NORMAL tokens with "▁" as " ", BYTE tokens as their byte, special tokens as
//           written, UNUSED as nothing; with add_space_prefix the first piece loses one
//           leading space.
// It is not Hugging Face's BPE: HF merges by merge rank, this by the score of the result.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tf {

// llama.cpp's llama_token_type, as tokenizer.ggml.token_type stores it.
enum SpmTokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

struct SpmVocab {
  std::vector<std::string> tokens;  // (V) as the file spells them, "▁" for a space
  std::vector<float> scores;        // (V) higher merges first
  std::vector<int32_t> types;       // (V) SpmTokenType
  int bos = -1, eos = -1, unk = -1;
  bool add_space_prefix = true, add_bos = true, add_eos = false;
};

// Throws Error(label + ...) when tokens, scores and types differ in length or a token repeats.
std::unique_ptr<Tokenizer> make_spm_tokenizer(SpmVocab v, const std::string& label);

}  // namespace tf
