// Hugging Face model directories: config.json + model.safetensors, or shards listed by
// model.safetensors.index.json (+ tokenizer.json, or vocab.json and merges.txt). GPT-2: read
// with or without the "transformer." prefix, attn.bias / attn.masked_bias buffers ignored,
// Conv1D layout. Llama family: HF's names in full, nn.Linear layout, rotary_emb.inv_freq
// ignored. Either: lm_head.weight present or tied, F32/F16/BF16. Written as F32 with HF's names
// and layout, so transformers loads it as is.
#pragma once
#include <memory>
#include <string>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tf {

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the directory carries none
  std::string dir;
  std::string no_tokenizer;  // why tokenizer is null, where a GGUF file's keys say ("" otherwise)
};

Config load_config(const std::string& path);
// A folder as above, or a path ending in .gguf (model/gguf_model.h).
LoadedModel load_model_dir(const std::string& dir);
// Reads weights from a safetensors file into model (shapes checked against its config).
void load_weights(Model& model, const std::string& safetensors_path);
// Writes dir/config.json and dir/model.safetensors atomically. tokenizer_dir, when set, is a
// folder whose tokenizer.json (+ tokenizer_config.json), or else vocab.json and merges.txt, are
// copied in.
void save_model_dir(const std::string& dir, const Model& model, const std::string& tokenizer_dir = "");
// The tokenizer of a model directory, or null.
std::unique_ptr<Tokenizer> load_dir_tokenizer(const std::string& dir, const Config& c);

}  // namespace tf
