// Models as GGUF files (llama.cpp's format, io/gguf.h): export with llama.cpp's metadata keys
// and tensor names (its convert_hf_to_gguf.py and llama-arch.cpp), and load back. GPT-2 is
// architecture gpt2; the Llama family is llama (llama, mistral) or qwen2. Llama's q/k rows are
// permuted to llama.cpp's interleaved rotary layout on export and back on load (qwen2 keeps
// HF's halves layout: llama.cpp runs it with NEOX rope). The tokenizer travels as metadata:
// tokenizer.ggml.model "gpt2" with the tokens (a byte-level model as its 256 byte tokens,
// marked tformer.tokenizer = "byte"), or a folder's vocab.json + merges.txt.
#pragma once
#include <string>

#include "io/gguf.h"
#include "model/model_dir.h"

namespace tf {

// Writes model (and the tokenizer of tokenizer_dir, when it has vocab.json + merges.txt, or
// the byte-level one the config names) to path. Matrices and embeddings are stored as dtype
// (F32, F16, BF16 or Q8_0), norms and biases as F32, as llama.cpp's converter does.
void export_gguf(const std::string& path, const Model& model, const std::string& tokenizer_dir, GgmlType dtype);

// The config a GGUF file's metadata and tensors describe, validated as config.json would be.
Config gguf_config(const Gguf& g);
// Loads a .gguf written by export_gguf or by llama.cpp's converter (F32/F16/BF16/Q8_0 tensors).
// Q8_0 matrices stay Q8_0: the model holds the file's blocks (Model::use_q8_0_weights) and
// decodes with them; the others are read as floats.
LoadedModel load_gguf_model(const std::string& path);

}  // namespace tf
