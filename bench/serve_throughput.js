// Aggregate decode throughput of `tformer serve`: 1, 4 and 8 concurrent greedy completions of
// 64 tokens each, through /v1/completions. Usage (from the repository root, after a build):
//   node bench/serve_throughput.js [--preset small] [serve flags, e.g. --max-running 8]
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { startServer } = require("../tests/node/serve");

const args = process.argv.slice(2);
const pi = args.indexOf("--preset");
const preset = pi >= 0 ? args.splice(pi, 2)[1] : "small";
const bin = process.env.TFORMER || "build/tformer";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-bench-"));
execFileSync(bin, ["init", "--preset", preset, "--out", path.join(dir, "m")]);

(async () => {
  const srv = await startServer(["--model", path.join(dir, "m"), ...args]);
  try {
    const one = async (i) => {
      const r = await fetch(srv.url + "/v1/completions", { method: "POST",
        body: JSON.stringify({ prompt: `Request ${i}:`, max_tokens: 64, temperature: 0 }) });
      return (await r.json()).usage.completion_tokens;
    };
    await one(-1);  // warm-up
    for (const c of [1, 4, 8]) {
      const t0 = Date.now();
      const tokens = (await Promise.all([...Array(c).keys()].map(one))).reduce((a, b) => a + b, 0);
      const s = (Date.now() - t0) / 1000;
      console.log(`${c} concurrent: ${tokens} tokens in ${s.toFixed(2)} s = ${(tokens / s).toFixed(1)} tokens/s`);
    }
  } finally {
    srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
