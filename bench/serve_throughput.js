// Continuous batching in `tformer serve`, measured through /v1/completions on a random-weight
// model of a preset's shapes:
//  - aggregate tokens/s of 1, 4, 8 and 16 concurrent greedy completions of --new tokens each
//    (different prompts of one length), and each against one at a time;
//  - time to first token of a new request while 8 others stream, against its prefill alone
//    (the time to first token of the same request on an idle server) + 2 decode steps of the
//    batch of 8 (the median gap between tokens of the 8 streams before it arrived).
// Usage (from the repository root, after a build):
//   flock /tmp/bench.lock node bench/serve_throughput.js [--preset gpt2|smollm2-135m|small]
//       [--new 32] [--repeat 3] [serve flags, e.g. --max-running 16 --threads 2]
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { startServer } = require("../tests/node/serve");

const args = process.argv.slice(2);
function take(flag, def) {
  const i = args.indexOf(flag);
  return i >= 0 ? args.splice(i, 2)[1] : def;
}
const preset = take("--preset", "gpt2");
const NEW = +take("--new", "32");
const REPEAT = +take("--repeat", "3");
const bin = process.env.TFORMER || "build/tformer";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-bench-"));
// The presets with a large vocabulary get a BPE tokenizer learned from README.md (2048
// tokens), its vocab.json padded with unreachable tokens to the model's vocab_size, so that every
// id a random model emits decodes; the byte-level presets keep the byte tokenizer.
const V = { gpt2: 50257, "smollm2-135m": 49152 }[preset];
let tokenizer = "byte";
if (V) {
  tokenizer = path.join(dir, "tok");
  execFileSync(bin, ["tokenizer", "train", "--data", "README.md", "--vocab", "2048", "--out", tokenizer]);
  const vocab = JSON.parse(fs.readFileSync(path.join(tokenizer, "vocab.json")));
  for (let i = Object.keys(vocab).length; i < V; ++i) vocab[`<pad${i}>`] = i;
  fs.writeFileSync(path.join(tokenizer, "vocab.json"), JSON.stringify(vocab));
  fs.rmSync(path.join(tokenizer, "tokenizer.json"));
}
execFileSync(bin, ["init", "--preset", preset, "--tokenizer", tokenizer, "--out", path.join(dir, "m")]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms

(async () => {
  const srv = await startServer(["--model", path.join(dir, "m"), ...args]);
  const post = (body) => fetch(srv.url + "/v1/completions", { method: "POST", body: JSON.stringify(body) });
  // Prompts of 12 bytes each, different for every request.
  const prompt = (i) => `Request ${String(i).padStart(4, "0")}:`;
  const one = async (i) => {
    const r = await post({ prompt: prompt(i), max_tokens: NEW, temperature: 0 });
    return (await r.json()).usage.completion_tokens;
  };
  // A stream that reports the time of each token (logprobs: one event per token, whatever its text).
  const stream = async (i, max_tokens, onToken) => {
    const r = await post({ prompt: prompt(i), max_tokens, temperature: 0, stream: true, logprobs: 0 });
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let k;
      while ((k = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, k);
        buf = buf.slice(k + 2);
        if (ev.startsWith("data: {") && JSON.parse(ev.slice(6)).choices[0].logprobs) onToken(now());
      }
    }
  };
  try {
    console.log(`${preset}: ${NEW} new tokens per request, greedy; serve ${args.join(" ")}`);
    await one(9999);  // warm-up
    const rate = {};
    for (const c of [1, 4, 8, 16]) {
      const runs = [];
      for (let k = 0; k < REPEAT; ++k) {
        const t0 = now();
        const tokens = (await Promise.all([...Array(c).keys()].map((i) => one(100 * k + i)))).reduce((a, b) => a + b, 0);
        runs.push(tokens / ((now() - t0) / 1000));
      }
      rate[c] = median(runs);
      console.log(`${String(c).padStart(2)} concurrent: ${rate[c].toFixed(1)} tokens/s aggregate (median of ${REPEAT}: ` +
        runs.map((x) => x.toFixed(1)).join(", ") + `), ${(rate[c] / rate[1]).toFixed(2)}x one at a time`);
    }

    // Time to first token: alone, then while 8 others stream.
    const alone = [], busy = [], gaps8 = [];
    for (let k = 0; k < REPEAT; ++k) {
      let first = null;
      const t0 = now();
      await stream(5000 + k, 2, (t) => { if (first === null) first = t - t0; });
      alone.push(first);
    }
    for (let k = 0; k < REPEAT; ++k) {
      const times = [...Array(8)].map(() => []);
      let ready;
      const going = new Promise((r) => (ready = r));
      const others = [...Array(8).keys()].map((i) => stream(6000 + 10 * k + i, 3 * NEW, (t) => {
        times[i].push(t);
        if (times.every((ts) => ts.length >= 4)) ready();
      }));
      await going;
      const t0 = now();
      for (const ts of times) for (let j = 1; j < ts.length; ++j) gaps8.push(ts[j] - ts[j - 1]);
      let first = null;
      await stream(7000 + k, 2, (t) => { if (first === null) first = t - t0; });
      busy.push(first);
      await Promise.all(others);
    }
    const prefill = median(alone), step8 = median(gaps8), ttft = median(busy);
    console.log(`time to first token alone (its prefill): ${prefill.toFixed(1)} ms; decode step of the batch of 8: ` +
      `${step8.toFixed(1)} ms`);
    console.log(`time to first token while 8 stream: ${ttft.toFixed(1)} ms (median of ${REPEAT}: ` +
      busy.map((x) => x.toFixed(1)).join(", ") + `) vs prefill + 2 steps = ${(prefill + 2 * step8).toFixed(1)} ms`);
  } finally {
    srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
