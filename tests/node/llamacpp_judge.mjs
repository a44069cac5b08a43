// llama.cpp (node-llama-cpp's prebuilt CPU binaries) greedy-decodes a .gguf from token ids:
// the judge of tests/llamacpp_judge.py. Token ids go in and come out, so no tokenizer is under
// test. Never builds llama.cpp (build: "never") nor touches a GPU (gpu: false).
// Usage: node llamacpp_judge.mjs FILE.gguf NEW_TOKENS IDS [IDS ...]   (IDS: "1,2,3", one per prompt)
// Prints one JSON line: [{"tokens": [...], "logprobs": [[[id, logprob], ...top 5], ...]}, ...].
//        node llamacpp_judge.mjs FILE.gguf --tokenize TEXT [TEXT ...]
// Prints one JSON line: the ids llama.cpp's tokenizer (from the file's metadata) gives each text.
import { getLlama } from "node-llama-cpp";

const [file, nNew, ...prompts] = process.argv.slice(2);
if (!file || !nNew || prompts.length === 0) {
  console.error("usage: node llamacpp_judge.mjs FILE.gguf NEW_TOKENS|--tokenize IDS|TEXT [...]");
  process.exit(2);
}
const TOP = 5;

const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: false });
if (nNew === "--tokenize") {
  console.log(JSON.stringify(prompts.map((text) => model.tokenize(text))));
  await model.dispose();
  await llama.dispose();
  process.exit(0);
}
const out = [];
for (const p of prompts) {
  const ids = p.split(",").map(Number);
  // A fresh context per prompt, at F32 throughout: F32 keys and values (the default cache is
  // F16) and no flash attention (its CPU kernel rounds to F16 whatever the cache holds: log-probs
  // then move by ~1e-3 at the first step and 3e-2 after 24).
  const context = await model.createContext({
    contextSize: ids.length + Number(nNew) + 8,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const seq = context.getSequence();
  const tokens = [];
  const logprobs = [];
  // temperature 0: greedy; probabilities: softmax of the raw logits at each step.
  const it = seq.evaluateWithMetadata(ids, { probabilities: true }, { temperature: 0, yieldEogToken: true });
  for await (const step of it) {
    tokens.push(step.token);
    logprobs.push([...step.probabilities.entries()].slice(0, TOP).map(([t, q]) => [t, Math.log(q)]));
    if (tokens.length >= Number(nNew)) break;
  }
  out.push({ tokens, logprobs });
  await context.dispose();
}
console.log(JSON.stringify(out));
await model.dispose();
await llama.dispose();
