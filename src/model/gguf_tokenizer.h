// A model's tokenizer as GGUF metadata, the way llama.cpp reads it (llama-vocab.cpp; keys as
// convert_hf_to_gguf.py writes them), and back:
//   byte-level (tformer's, 256 tokens)      -> tokenizer.ggml.model "gpt2", pre "gpt-2"
//   GPT-2 vocab.json + merges.txt           -> "gpt2", pre "gpt-2"
//   tokenizer.json, byte-level BPE          -> "gpt2", pre chosen by its Split regex:
//                                              Llama-3's "llama-bpe", Qwen2/3's "qwen2";
//                                              Digits + ByteLevel: SmolLM2's "smollm"
//   tokenizer.json, sentencepiece-style BPE -> "llama" (Llama-2, TinyLlama: "▁", byte_fallback),
//                                              merges as scores: a token's score is minus the
//                                              rank of the first merge making it, which is the
//                                              order llama.cpp's SPM tokenizer merges in
// plus token types (added tokens CONTROL when special, else USER_DEFINED; <0xXX> BYTE; <unk>
// UNKNOWN; ids no token has "[PADn]" UNUSED), BOS/EOS/UNK ids and add_bos_token/add_eos_token.
// A tokenizer.json also travels verbatim (tformer.tokenizer.json, .tokenizer_config.json), so
// that tformer reads back exactly the tokenizer the folder had; llama.cpp ignores those keys.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/gguf.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace tf {

// Appends the tokenizer of dir (tokenizer.json, else vocab.json + merges.txt), or the
// byte-level one the config names, to kv; nothing when there is none. A tokenizer.json that
// llama.cpp has no equivalent for is one Error naming the file and key.
void add_gguf_tokenizer(std::vector<std::pair<std::string, GgufValue>>& kv, const Config& c, const std::string& dir);

// The tokenizer a GGUF file carries: the tokenizer.json it was exported from, tformer's
// byte-level one, GPT-2 BPE from tokenizer.ggml.tokens + merges (pre "gpt-2"), or the
// vocabulary llama.cpp's converter wrote, read as llama.cpp reads it (model/gguf_vocab.h);
// null when it has none tformer can build, with *why (when given) saying which
// tokenizer.ggml.model / .pre value was not understood.
std::unique_ptr<Tokenizer> gguf_tokenizer(const Gguf& g, const Config& c, std::string* why = nullptr);

}  // namespace tf
