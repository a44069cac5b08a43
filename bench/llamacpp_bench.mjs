// llama.cpp's speed on a .gguf through node-llama-cpp (its prebuilt CPU binaries, the npm package
// of tests/node): bench/run.py's llama.cpp column. Prints one JSON line like bench_tformer's.
//   node bench/llamacpp_bench.mjs prefill --model F.gguf --seq 512 [--reps 3] [--threads 2]
//   node bench/llamacpp_bench.mjs decode  --model F.gguf --prompt 16 --new 128 [--reps 2] [--threads 2]
// Timed the way that is best for llama.cpp: the model loaded and a context created once, outside
// the clock; prefill is one batch of `seq` tokens (batchSize = seq) into an emptied sequence;
// decode counts the steps after the prompt's (new-1 tokens over their time, as bench_tformer),
// greedy, with node-llama-cpp's defaults otherwise (F16 KV cache, flash attention "auto"). The
// median of --reps runs after a short warm-up.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const { getLlama } = await import(
  pathToFileURL(path.join(ROOT, "tests/node/node_modules/node-llama-cpp/dist/index.js")).href
);

const [what, ...rest] = process.argv.slice(2);
const opt = { reps: 3, threads: 2, seq: 128, prompt: 16, new: 128 };
for (let i = 0; i < rest.length; i += 2) {
  const k = rest[i].replace(/^--/, "");
  if (!(k in opt) && k !== "model") {
    console.error(`unknown flag ${rest[i]}`);
    process.exit(2);
  }
  opt[k] = k === "model" ? rest[i + 1] : Number(rest[i + 1]);
}
if (!["prefill", "decode"].includes(what) || !opt.model) {
  console.error("usage: llamacpp_bench.mjs prefill|decode --model F.gguf [--seq N] [--prompt N --new N] [--reps N] [--threads N]");
  process.exit(2);
}

const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath: opt.model, gpuLayers: 0 });
const n = what === "prefill" ? opt.seq : opt.prompt + opt.new;
const context = await model.createContext({
  contextSize: n + 16,
  batchSize: Math.max(opt.seq, opt.prompt),
  threads: opt.threads,
});
const seq = context.getSequence();
let state = 12345; // token ids below 256: every model here has at least that many
const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) % 256;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function once(nNew = opt.new) {
  await seq.clearHistory();
  if (what === "prefill") {
    const ids = Array.from({ length: opt.seq }, random);
    const t0 = process.hrtime.bigint();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    return opt.seq / (Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const ids = Array.from({ length: opt.prompt }, random);
  let count = 0;
  let t1 = 0n;
  for await (const tok of seq.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
    void tok;
    if (++count === 1) t1 = process.hrtime.bigint(); // the prompt's pass ends with the first token
    if (count >= nNew) break;
  }
  return (nNew - 1) / (Number(process.hrtime.bigint() - t1) / 1e9);
}

await once(8); // warm-up: pages in the weights, sizes the buffers
const rates = [];
for (let r = 0; r < opt.reps; ++r) rates.push(await once());
console.log(JSON.stringify({ what, model: opt.model, threads: opt.threads, reps: rates, tokens_per_second: median(rates) }));
await context.dispose();
await model.dispose();
await llama.dispose();
