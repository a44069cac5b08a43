// llama.cpp's tokenizer (node-llama-cpp's prebuilt CPU binaries) on a .gguf's vocabulary alone
// (vocabOnly: no weights are read): the judge of tests/gguf_tokenizer.py.
// Usage: node llamacpp_tokenize.mjs FILE.gguf < {"texts": [...], "ids": [[...], ...]}
// Prints one JSON line: {"tokens": ids of each text, special-token strings parsed as the tokens
// (HF's behaviour), no BOS added; "texts": each ids list detokenized with special tokens spelled;
// "bos", "eos", "addBos": the BOS and EOS ids and whether llama.cpp puts BOS before a prompt}.
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";

const [file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node llamacpp_tokenize.mjs FILE.gguf < request.json");
  process.exit(2);
}
const req = JSON.parse(readFileSync(0, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
const out = {
  tokens: req.texts.map((t) => Array.from(model.tokenize(t, true))),
  texts: req.ids.map((ids) => model.detokenize(ids, true)),
  bos: model.tokens.bos,
  eos: model.tokens.eos,
  addBos: model.tokens.shouldPrependBosToken,
};
console.log(JSON.stringify(out));
await model.dispose();
await llama.dispose();
