#include "tokenizer/tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "tokenizer/hf_tokenizer.h"

namespace tf {

const char* tokenizer_kind_name(TokenizerKind k) {
  switch (k) {
    case TokenizerKind::kByte:
      return "byte";
    case TokenizerKind::kGpt2Bpe:
      return "gpt2-bpe";
    case TokenizerKind::kHfBpe:
      return "hf-bpe";
    case TokenizerKind::kSpm:
      return "spm";
    case TokenizerKind::kWords:
      return "words";
  }
  return "?";
}

std::string Tokenizer::decode(std::span<const int> ids) const {
  std::string out;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                  std::to_string(vocab_size()) + ")");
    out += token_bytes(id);
  }
  return out;
}

std::vector<int> Tokenizer::encode_with_specials(std::string_view text) const {
  std::vector<int> ids = prefix_ids();
  const std::vector<int> body = encode(text), suffix = suffix_ids();
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), suffix.begin(), suffix.end());
  return ids;
}

namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  ByteTokenizer() {
    for (int b = 0; b < 256; ++b) bytes_[b] = std::string(1, char(b));
  }
  std::vector<int> encode(std::string_view text) const override {
    std::vector<int> ids(text.size());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }
  const std::string& token_bytes(int id) const override { return id >= 0 && id < 256 ? bytes_[id] : no_bytes(); }
  int vocab_size() const override { return 256; }
  TokenizerKind kind() const override { return TokenizerKind::kByte; }

 private:
  std::string bytes_[256];
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() { return std::make_unique<ByteTokenizer>(); }

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& spec) {
  if (spec == "byte") return make_byte_tokenizer();
  if (!std::filesystem::is_directory(spec))
    throw Error("tokenizer " + spec + ": not 'byte' and not a folder with tokenizer.json or vocab.json + merges.txt");
  if (has_hf_tokenizer(spec)) return load_hf_tokenizer(spec);
  return load_bpe_tokenizer(spec);
}

size_t utf8_complete_prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the last lead byte.
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const unsigned char c = s[n - back];
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return back < need ? n - back : n;
  }
  return n;  // invalid bytes: nothing to wait for
}

}  // namespace tf
