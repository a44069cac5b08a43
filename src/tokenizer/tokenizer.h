// Tokenizers: byte-level (ids 0-255 are the bytes), GPT-2's byte-level BPE, and Hugging Face
// tokenizer.json BPE (hf_tokenizer.h). The first two are lossless: decode(encode(x)) == x for
// any bytes, invalid UTF-8 included; so are the byte-level tokenizer.json ones.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

enum class TokenizerKind {
  kByte,     // ids 0-255 are the bytes
  kGpt2Bpe,  // GPT-2's vocab.json + merges.txt
  kHfBpe,    // Hugging Face tokenizer.json
  kSpm,      // llama.cpp's SentencePiece vocabulary (a GGUF file's "llama" model; spm.h)
  kWords,    // the explainer's toy: one token per word
};
const char* tokenizer_kind_name(TokenizerKind k);  // "byte", "gpt2-bpe", "hf-bpe", "spm", "words"

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int> encode(std::string_view text) const = 0;
  // The raw bytes of one token (may be part of a UTF-8 character). An id past the tokenizer's
  // vocabulary (a row the model has and the tokenizer lacks) spells nothing.
  virtual const std::string& token_bytes(int id) const = 0;
  virtual int vocab_size() const = 0;
  virtual TokenizerKind kind() const = 0;
  // The text of ids. The default concatenates token_bytes; a tokenizer.json decoder may also
  // trim the whole (Llama-2 drops the leading space its "▁" prefix became), so to extend a
  // text token by token concatenate token_bytes, or take the difference of two decodes.
  virtual std::string decode(std::span<const int> ids) const;

  // Special tokens, -1 when the tokenizer has none (byte; GPT-2's vocab.json + merges.txt has
  // only <|endoftext|>, its EOS).
  virtual int bos_id() const { return -1; }
  virtual int eos_id() const { return -1; }
  // Added tokens marked special (<|begin_of_text|>, <s>, <|im_end|>): what decoding may skip.
  virtual bool is_special(int /*id*/) const { return false; }
  // What Hugging Face's add_special_tokens=True puts around a text: Llama-2's BOS before it.
  virtual std::vector<int> prefix_ids() const { return {}; }
  virtual std::vector<int> suffix_ids() const { return {}; }
  // prefix_ids() + encode(text) + suffix_ids(): the ids a model expects for a whole document.
  std::vector<int> encode_with_specials(std::string_view text) const;

 protected:
  static const std::string& no_bytes() {
    static const std::string empty;
    return empty;
  }
};

std::unique_ptr<Tokenizer> make_byte_tokenizer();
// GPT-2 BPE from dir/vocab.json and dir/merges.txt; throws Error naming the file at fault.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& dir);
// The same from memory: tokens[id] spelled as in vocab.json, merges as merges.txt's lines (a
// GGUF file's tokenizer.ggml.tokens and .merges). label names the origin in messages.
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::vector<std::string>& tokens,
                                              const std::vector<std::string>& merges, const std::string& label);
// "byte", or a folder holding tokenizer.json (preferred) or vocab.json + merges.txt.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec);

// Length of the longest prefix of s that does not end inside a UTF-8 character; streaming
// prints up to there and keeps the rest for the next token.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace tf
