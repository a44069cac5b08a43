// libFuzzer target: a GGUF file's own vocabulary (tokenizer.ggml.* keys, model/gguf_vocab.h)
// either builds a tokenizer or is refused (null with a reason, or tf::Error); a tokenizer it
// builds encodes text to ids inside its vocabulary and decodes them without failing. Anything
// else (a crash, a sanitizer report, another exception) is a bug. The corpus starts from a
// "gpt2"/llama-bpe and a "llama" (SentencePiece) vocabulary (tests/fuzz/gguf_vocab_seeds.py).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "model/gguf_vocab.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tf::Gguf g(data, size, "fuzz");
    std::string why;
    const std::unique_ptr<tf::Tokenizer> tok = tf::gguf_vocab_tokenizer(g, &why);
    if (!tok) return 0;
    // Words, digits, spaces, a special-looking token, UTF-8 and a lone continuation byte.
    const auto ids = tok->encode("Hello world,  it's 12345 <s> caf\xc3\xa9 \xe2\x96\x81x\n\t\x80");
    for (int id : ids)
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    tok->decode(ids);
  } catch (const tf::Error&) {
  }
  return 0;
}
