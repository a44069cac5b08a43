// The tokenizer of a GGUF file that carries no tokenizer.json (one from llama.cpp's
// convert_hf_to_gguf.py, or downloaded), built from the tokenizer.ggml.* keys alone the way
// llama.cpp's llama-vocab.cpp reads them:
//   "gpt2" + pre llama-bpe/llama3/llama-v3/dbrx/smaug-bpe (Llama-3), qwen2/stablelm2/megrez/
//          deepseek-r1-qwen (Qwen2/3), qwen35, smollm/starcoder/refact/command-r/codeshell/
//          exaone/minerva-7b (single digits, then GPT-2's split), mpt/olmo/phi-2 (GPT-2's
//          split with the added tokens), default or none (llama.cpp's four default regexes):
//          byte-level BPE over tokens + merges behind that pre type's split regexes, as a
//          tokenizer.json that tformer's HF pieces run ("gpt-2" itself: GPT-2 BPE, tokenizer.h);
//   "llama": SentencePiece, scores deciding the merge order (tokenizer/spm.h).
// CONTROL, USER_DEFINED and UNKNOWN tokens are cut out of the text first; tokens spelled like
// end-of-turn or fill-in-the-middle markers are CONTROL whatever their type says ("</s>" in
// Qwen's vocabulary), and BOS/EOS/add_bos_token/add_eos_token/add_space_prefix default as
// llama.cpp's do (a default BOS/EOS id only where that token is CONTROL). Where llama.cpp and
// the model's own tokenizer.json disagree (Qwen's NFC normalizer, which llama.cpp skips;
// "</s>" above; llama.cpp's space clean-up when decoding with Llama-3's and GPT-2's pre types)
// this follows llama.cpp: the file is its format. Not reproduced: llama.cpp cuts special tokens
// longest-first over the whole text, tformer at each position the longest (they differ only
// where two special tokens overlap in the text).
#pragma once
#include <memory>
#include <string>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace tf {

// Null, with *why saying which tokenizer.ggml.model / .pre value was not understood, when the
// file's vocabulary is none of the above. Malformed keys are one Error naming the key.
std::unique_ptr<Tokenizer> gguf_vocab_tokenizer(const Gguf& g, std::string* why);

}  // namespace tf
