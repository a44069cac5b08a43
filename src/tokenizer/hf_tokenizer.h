// Tokenizers described by Hugging Face's tokenizer.json (with tokenizer_config.json beside it):
// Llama-3, Qwen2/3 and SmolLM2 (byte-level BPE behind Split regexes), Llama-2, Mistral and
// TinyLlama (sentencepiece-style BPE with "▁", byte fallback and <unk>).
//
//   encode: cut out added tokens -> per stretch: normalizer -> pre-tokenizer -> BPE model
//   encode_with_specials: + BOS/EOS as the post-processor or tokenizer_config.json say
//   decode: the decoder chain, evaluated per token once at load time (token_bytes), then
//           the Strip that follows Fuse (Llama-2 drops the "▁" it prepended) on the whole.
//
// Anything in tokenizer.json that we do not implement (WordPiece or Unigram models, BERT's
// normalizer, Metaspace or Digits pre-tokenizers, ...) is refused with one error naming the
// file and the key, never silently encoded differently.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace tf {

// True when dir holds a tokenizer.json.
bool has_hf_tokenizer(const std::string& dir);
// Loads dir/tokenizer.json and, when present, dir/tokenizer_config.json; throws Error naming
// the file and the key at fault.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& dir);
// The same from the two files' texts (config_json empty: no tokenizer_config.json), as a GGUF
// file carries them; label and config_label name them in messages.
std::unique_ptr<Tokenizer> make_hf_tokenizer(const std::string& json, const std::string& label,
                                             const std::string& config_json, const std::string& config_label);

}  // namespace tf
