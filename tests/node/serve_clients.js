// tformer serve with clients that are not well behaved, and prompt arrays (issue #14):
// - the prompts of one /v1/completions array join the batch together (one step advances all
//   of them) and each choice equals its prompt made alone;
// - a client that hangs up on a NON-streaming request frees its sequences at once, not when
//   they would have ended (the server watches the socket while the request waits);
// - a streaming client that reads nothing (its socket paused, the server's sends backed up in
//   the kernel's buffers) does not stall the others: they are all answered while it still reads
//   nothing, and once it reads, its stream is whole and equals the same request unstreamed.
const OpenAI = require("openai");
const { execFileSync } = require("child_process");
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");
const { startServer, check, finish } = require("./serve");

const bin = process.env.TFORMER || "build/tformer";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-clients-"));
// A long path: it is the served model's name, sent in every streamed event, so that the slow
// stream below is several MB without many tokens.
const model = path.join(dir, ..."mnop".split("").map((c) => c.repeat(250)));
execFileSync(bin, ["init", "--preset", "tiny", "--out", model]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function info(srv) { return (await (await fetch(srv.url + "/api/info")).json()).batcher; }

// The texts of a completions stream's choices by index, from its raw bytes (chunked encoding:
// every event is written in one chunk, so its data line is whole).
function streamTexts(raw) {
  const texts = [];
  let done = false;
  for (const line of raw.split(/\r?\n/)) {
    if (line === "data: [DONE]") done = true;
    if (!line.startsWith("data: {")) continue;
    for (const c of JSON.parse(line.slice(6)).choices) texts[c.index] = (texts[c.index] || "") + c.text;
  }
  return { texts, done };
}

(async () => {
  const srv = await startServer(["--model", model, "--max-running", "64"]);
  const client = new OpenAI({ apiKey: "none", baseURL: srv.url + "/v1", maxRetries: 0, timeout: 60000 });
  try {
    // ---- a prompt array: its prompts decoded together
    const prompts = ["Once", "upon a", [72, 105, 33], "time there"];
    const before = await info(srv);
    const all = await client.completions.create({ model: "m", prompt: prompts, max_tokens: 12, temperature: 0.8, n: 2,
      seed: 11, eos: -1 });
    const after = await info(srv);
    const steps = after.steps - before.steps;
    check(after.widest_step === 8 && steps === 11,
      `4 prompts x n=2 took ${steps} steps of up to ${after.widest_step} sequences (together: 11 steps of 8)`);
    let same = 0;
    for (let p = 0; p < prompts.length; ++p) {
      const alone = await client.completions.create({ model: "m", prompt: prompts[p], max_tokens: 12, temperature: 0.8,
        n: 2, seed: 11, eos: -1 });
      for (let i = 0; i < 2; ++i) if (alone.choices[i].text === all.choices.find((c) => c.index === p * 2 + i).text) same++;
    }
    check(same === 8, `${same}/8 choices of the array equal their prompt made alone`);
    const s = await client.completions.create({ model: "m", prompt: prompts, max_tokens: 12, temperature: 0.8, n: 2,
      seed: 11, eos: -1, stream: true });
    const streamed = [];
    for await (const chunk of s) for (const c of chunk.choices) streamed[c.index] = (streamed[c.index] || "") + c.text;
    check(streamed.length === 8 && streamed.every((t, k) => t === all.choices.find((c) => c.index === k).text),
      "the array streamed equals it unstreamed");

    // ---- the rest of the OpenAI surface of the issue
    const models = await client.models.list();
    check(models.data.length === 1 && models.data[0].id === model, "/v1/models lists the served model");
    const fail = async (f) => { try { await f(); return null; } catch (e) { return e; } };
    let e = await fail(() => client.completions.create({ model: "m", prompt: "x", max_tokens: 2, temprature: 0.5 }));
    check(e && e.status === 400 && /unknown field.*temprature/.test(e.message), `an unknown field: ${e && e.message}`);
    const wrong = await fetch(srv.url + "/v1/completions");
    check(wrong.status === 405 && wrong.headers.get("allow") === "POST", "GET /v1/completions: 405 with Allow: POST");
    const empty = await fetch(srv.url + "/v1/completions", { method: "POST" });
    const emptyMsg = (await empty.json()).error.message;
    check(empty.status === 400 && emptyMsg === "prompt is required", `an empty body: ${empty.status} ${emptyMsg}`);
    e = await fail(() => client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }] }));
    check(e && e.status === 400 && /no chat template/.test(e.message), "chat on a model without a template: a 400 saying so");
    // Without a seed every request samples afresh; with one it repeats.
    const sampled = (seed) => client.completions.create({ model: "m", prompt: "s", max_tokens: 16, temperature: 1, eos: -1,
      ...(seed === undefined ? {} : { seed }) }).then((r) => r.choices[0].text);
    const [u1, u2, s1, s2] = [await sampled(), await sampled(), await sampled(9), await sampled(9)];
    check(u1 !== u2 && s1 === s2, "sampling without a seed differs per request; with a seed it repeats");
    const help = execFileSync(bin, ["generate", "--help"]).toString();
    check(/--seed[^\n]*=0[\s\S]*fresh seed per request/.test(help), "tformer generate --help says what --seed defaults to");
    // echo with logprobs, and penalties: as tformer generate answers (the penalties' arithmetic is
    // held against a naive twin in generate_test.cc; here, that the fields reach it).
    const ec = await client.completions.create({ model: "m", prompt: "echo", max_tokens: 3, temperature: 0, eos: -1,
      echo: true, logprobs: 1 });
    const lp = ec.choices[0].logprobs;
    check(ec.choices[0].text.startsWith("echo") && lp.tokens.length === 4 + 3 && lp.token_logprobs[0] === null &&
      lp.token_logprobs.slice(1).every((x) => x <= 0), `echo + logprobs: ${JSON.stringify(ec.choices[0].text)}, ` +
      `${lp.tokens.length} tokens, the first without a log-prob`);
    const pen = await client.completions.create({ model: "m", prompt: "pen", max_tokens: 12, temperature: 0.8, seed: 4,
      eos: -1, frequency_penalty: 1.5, presence_penalty: 0.7 });
    const cliPen = JSON.parse(execFileSync(bin, ["generate", "--model", model, "--prompt", "pen", "--max-new", "12",
      "--strategy", "sample", "--temperature", "0.8", "--seed", "4", "--eos", "-1", "--frequency-penalty", "1.5",
      "--presence-penalty", "0.7", "--json"]).toString()).sequences[0].text;
    const noPen = await client.completions.create({ model: "m", prompt: "pen", max_tokens: 12, temperature: 0.8, seed: 4,
      eos: -1 });
    check(pen.choices[0].text === cliPen && noPen.choices[0].text !== cliPen,
      "frequency and presence penalties: as tformer generate's, and not the unpenalized text");

    const gen = await (await fetch(srv.url + "/api/generate", { method: "POST",
      body: JSON.stringify({ prompt: "Hello", max_new: 5, eos: -1 }) })).json();
    const cmp = await client.completions.create({ model: "m", prompt: "Hello", max_tokens: 5, temperature: 0, eos: -1 });
    check(gen.sequences[0].text === cmp.choices[0].text && !gen.vocab, "/api/generate runs the served model by default");

    // Beams share the batch with other requests and answer as tformer generate's beam search.
    const [beam] = await Promise.all([
      fetch(srv.url + "/api/generate", { method: "POST", body: JSON.stringify({ prompt: "Beam", max_new: 8, eos: -1,
        strategy: "beam", beams: 3, num_return: 2 }) }).then((r) => r.json()),
      ...[1, 2, 3].map((i) => client.completions.create({ model: "m", prompt: `with ${i}`, max_tokens: 8, temperature: 1,
        seed: i, eos: -1 }))]);
    const cliBeam = JSON.parse(execFileSync(bin, ["generate", "--model", model, "--prompt", "Beam", "--max-new", "8",
      "--eos", "-1", "--strategy", "beam", "--beams", "3", "--num-return", "2", "--json"]).toString());
    check(beam.sequences.length === 2 && beam.sequences.every((q, i) => q.text === cliBeam.sequences[i].text),
      "beam search beside other requests: the sequences of tformer generate's");

    // ---- a non-streaming client hangs up: its 8 x 250 tokens stop at once
    const base = await info(srv), mark = srv.log().length;
    const abort = new AbortController();
    const hung = fetch(srv.url + "/v1/completions", { method: "POST", signal: abort.signal,
      body: JSON.stringify({ prompt: "hang", max_tokens: 250, n: 8, temperature: 1, seed: 3, eos: -1 }) }).catch(() => "aborted");
    while ((await info(srv)).steps < base.steps + 3) await sleep(5);
    abort.abort();
    check((await hung) === "aborted", "the client hung up while its request was decoding");
    let line;
    for (let i = 0; i < 200 && !line; ++i, await sleep(50))
      line = srv.log().slice(mark).split("\n").find((l) => l.startsWith("POST /v1/completions"));
    const tokens = line ? +line.match(/tokens=(\d+)/)[1] : -1;
    const idle = (await info(srv)).steps;
    await sleep(200);
    check(tokens > 0 && tokens < 4 + 2000 && (await info(srv)).steps === idle,
      `its sequences ended early: ${tokens} of 4 + 2000 tokens (log: ${line}), and no step runs after`);
  } finally { srv.stop(); }

  // ---- a slow reader: a raw socket, paused, asks for a few MB of stream
  const srv2 = await startServer(["--model", model, "--max-running", "64"]);
  const client2 = new OpenAI({ apiKey: "none", baseURL: srv2.url + "/v1", maxRetries: 0, timeout: 60000 });
  try {
    const big = { model: "m", prompt: ["a", "b", "c", "d", "e", "f", "g", "h"], n: 8, max_tokens: 60, temperature: 1,
      seed: 5, eos: -1, logprobs: 5 };
    const ref = await client2.completions.create(big);
    const sock = net.connect(srv2.port, "127.0.0.1");
    await new Promise((r) => sock.on("connect", r));
    const body = JSON.stringify({ ...big, stream: true });
    sock.pause();
    sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ` +
      `${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    // Until the server's sends to it back up: its bytes wait in the kernel (Send-Q on the server's end).
    // The bytes in the kernel's buffers: queued to send on the server's end, and received but
    // not read on the client's.
    const queued = (from, to, col) => {
      const out = execFileSync("ss", ["-Htn", "state", "established", "sport", "=", `:${from}`, "dport", "=",
        `:${to}`]).toString().trim().split(/\s+/);
      return +out[col] || 0;
    };
    const backlog = () => queued(srv2.port, sock.localPort, 1);
    let q = 0;
    for (let i = 0; i < 400 && q === 0; ++i, await sleep(25)) q = backlog();
    check(q > 0, `the paused reader backed up the server's sends (Send-Q ${q} bytes)`);
    const paused = Date.now();
    const others = [...Array(8).keys()].map((i) => ({ model: "m", prompt: `other ${i}`, max_tokens: 16, temperature: 0,
      eos: -1, stream: i % 2 === 1 }));
    const got = await Promise.allSettled(others.map(async (o) => {
      const r = await client2.completions.create(o);
      if (!o.stream) return r.choices[0].text;
      let t = "";
      for await (const c of r) t += c.choices[0] ? c.choices[0].text : "";
      return t;
    }));
    // The batch has gone idle (every token of the slow request generated too).
    for (let last = -1, i = 0; i < 40; ++i, await sleep(50)) {
      const now = (await info(srv2)).steps;
      if (now === last) break;
      last = now;
    }
    const stillBacked = backlog(), unread = queued(sock.localPort, srv2.port, 0);
    check(got.every((r) => r.status === "fulfilled") && stillBacked > 0,
      `8 other clients were answered while the slow one read nothing (its Send-Q still ${stillBacked} bytes)`);
    let raw = "";
    sock.on("data", (d) => (raw += d.toString("latin1")));
    const ended = new Promise((r) => sock.on("end", r));
    sock.resume();
    const pausedFor = (Date.now() - paused) / 1000;
    await ended;
    const { texts, done } = streamTexts(Buffer.from(raw, "latin1").toString("utf8"));
    const equal = ref.choices.filter((c) => texts[c.index] === c.text).length;
    check(done && equal === 64, `then it read ${(raw.length / 1e6).toFixed(1)} MB: the whole stream ([DONE]), ` +
      `${equal}/64 choices equal the request unstreamed`);
    // More than the kernel held once the batch was idle: the rest was still in the server, its
    // writer held back, while the batch went on and finished.
    check(stillBacked + unread < raw.length, `the kernel held ${((stillBacked + unread) / 1e6).toFixed(1)} MB of ` +
      `the stream once the batch was idle: the server's writer was held back, not the batch (paused ` +
      `${pausedFor.toFixed(1)} s)`);
    for (let i = 0; i < others.length; ++i) {
      const alone = await client2.completions.create({ ...others[i], stream: false });
      if (got[i].value !== alone.choices[0].text) check(false, `other ${i} differs from it alone`);
    }
  } finally { srv2.stop(); }
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
})().catch((e) => { console.error(e); process.exit(1); });
