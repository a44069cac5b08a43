// GPT-2's byte-level conventions, shared by the BPE encoder (bpe.cc), the BPE trainer
// (bpe_train.cc) and tokenizer.json's ByteLevel pieces (hf_pretokenizer.cc, hf_decoder.cc) so
// that all of them cut and spell text exactly the same way:
//   - the pre-tokenizer pattern (openai/gpt-2 src/encoder.py), run with PCRE2 Unicode properties;
//   - bytes_to_unicode: each byte as one printable code point, the spelling of vocab.json.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;

namespace tf {

inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's table, byte -> code point: printable bytes map to themselves, the rest to 256, 257, ...
// Built once; every code point is below U+0800.
const std::vector<int>& bytes_to_unicode();

// Raw bytes spelled as GPT-2 writes them in vocab.json and merges.txt ("Ġthe" for " the").
std::string byte_level_text(std::string_view bytes);

// Cuts text into GPT-2 pieces. Bytes the pattern cannot match (invalid UTF-8) become pieces of
// their own, so the pieces always concatenate back to the text.
class Gpt2PreTokenizer {
 public:
  Gpt2PreTokenizer();
  ~Gpt2PreTokenizer();
  Gpt2PreTokenizer(const Gpt2PreTokenizer&) = delete;
  Gpt2PreTokenizer& operator=(const Gpt2PreTokenizer&) = delete;
  void split(std::string_view text, const std::function<void(std::string_view piece)>& on_piece) const;

 private:
  pcre2_real_code_8* re_ = nullptr;
};

}  // namespace tf
