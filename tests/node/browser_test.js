// The page as a person uses it, in Debian's chromium driven by playwright-core: load, switch
// modes, step generation, toggle the cache, change the strategy; the numbers on screen must
// equal the API's. Screenshots go to $SCREENSHOTS (default build/screenshots).
const { chromium } = require("playwright-core");
const fs = require("fs");
const { startServer, check, finish } = require("./serve");

const shots = process.env.SCREENSHOTS || "build/screenshots";
// Runs the page's "Train & run" and waits for the answer of that run, the newest one (a run an
// input's change started earlier is superseded and its answer dropped by the page).
async function rerun(page) {
  await page.click("#run");
  await page.waitForFunction(() => document.body.dataset.runs === document.body.dataset.started);
}
const post = async (url, body) => (await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })).json();

// A served Llama model with 6 query heads / 2 K/V heads (random weights, byte tokenizer): the
// attention card groups its heads by K/V head and says which share; the rotary table and dials
// show angles equal to position · 10000^(−2i/HS), computed here; the KV cache counts 2 heads.
async function llamaPage(browser, errors) {
  const dir = fs.mkdtempSync(require("os").tmpdir() + "/tformer-llama-page-");
  const cfg = { model_type: "llama", vocab_size: 260, hidden_size: 48, intermediate_size: 64, num_hidden_layers: 1,
    num_attention_heads: 6, num_key_value_heads: 2, max_position_embeddings: 64, rope_theta: 10000.0 };
  fs.writeFileSync(dir + "/config.json", JSON.stringify(cfg));
  require("child_process").execFileSync(process.env.TFORMER || "build/tformer", ["init", "--config", dir + "/config.json",
    "--out", dir + "/m", "--tokenizer", "byte"], { stdio: "ignore" });
  const srv = await startServer(["--model", dir + "/m"]);
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(srv.url + "/");
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    await page.waitForSelector("#use-model-label:not([hidden])");
    check((await page.textContent("#model-info")).includes("6 query heads / 2 K/V heads"), "header: 6 query heads / 2 K/V heads");
    await page.fill("#prompt", "Abc de");
    await page.check("#use-model");
    await page.waitForFunction(() => document.body.dataset.runs === document.body.dataset.started &&
      document.getElementById("status").textContent.startsWith("loaded model"), null, { timeout: 60000 });
    check((await page.textContent("#status")).includes("h_t check passed"), "Llama: h_t check passed");
    check(await page.isVisible("#rope-table") && await page.isVisible("#gqa"), "Llama: the rotary and GQA views are shown");
    const groups = await page.$$eval("#head-select optgroup", (g) => g.map((x) => [x.label, x.querySelectorAll("option").length]));
    check(groups.length === 2 && groups[1][0] === "layer 1 · K/V head 1 (query heads 3–5)" && groups.every((g) => g[1] === 3),
      `head selector grouped by K/V head: ${groups.map((g) => g[0]).join(" | ")}`);
    check((await page.textContent("#gqa-summary")).includes("heads 0–2 share K/V head 0; heads 3–5 share K/V head 1"),
      "grouping text: heads 0–2 share K/V head 0; heads 3–5 share K/V head 1");
    await page.selectOption("#head-select", "0,4");
    const sel = await page.textContent("#gqa-selected");
    check(sel.includes("query head 4, which reads K/V head 1 together with heads 3 and 5"), `head 4's group: '${sel}'`);
    const api = await post(srv.url + "/api/explain", { model: true, prompt: "Abc de", new: 3, strategy: "greedy" });
    const att = await page.$$eval("#attention-table tr", (rows) => rows.slice(1).map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));
    check(att.every((r, t) => r.every((v, s) => v === api.training.attention[0][4][t][s].toFixed(2))), "head 4's attention on screen = API");
    // The rotary angles, computed here from the config: position t, pair i turns by t · θ^(−2i/HS).
    const HS = cfg.hidden_size / cfg.num_attention_heads, T = api.training.ids.length;
    const deg = (t, i) => Math.round(t * Math.pow(cfg.rope_theta, -2 * i / HS) * 180 / Math.PI) % 360;
    const cells = await page.$$eval("#rope-table tr", (rows) => rows.slice(1, -1).map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));
    check(cells.length === T && cells.every((r, t) => r.length === HS / 2 && r.every((v, i) => +v === deg(t, i))),
      `rotary table: ${T} positions × ${HS / 2} pairs, angle = t·10000^(−2i/${HS}) in degrees (row 5: ${cells[5] && cells[5].join(", ")})`);
    await page.selectOption("#rope-pos", "3");
    const dials = await page.$$eval("#rope-dials .dial-label", (l) => l.map((x) => x.textContent));
    check(dials.length === HS / 2 && dials.every((x, i) => x === `${i}: ${deg(3, i)}°`), `dials at position 3: ${dials.join(", ")}`);
    check((await page.textContent("#rope-caption")).includes("10000^(−2i/8)"), "the rotary caption names θ and HS");
    await page.screenshot({ path: `${shots}/llama-training.png`, fullPage: true });
    await page.click("#tab-inference");
    for (let k = 0; k < 3; ++k) await page.click("#step");
    const rowBytes = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * HS * 4, rows = api.training.ids.length - 1;
    check((await page.textContent("#kv-bytes")).startsWith(`${rows * rowBytes} bytes in all (${rows * rowBytes * 3} with one K/V head`) &&
      api.inference.kv_cache_bytes === rows * rowBytes, `KV cache: ${rows} rows × ${rowBytes} bytes (2 K/V heads, not 6)`);
    check(+(await page.textContent("#count-flops")) === api.comparison.flops.cached, "Llama: cached FLOPs on screen = API");
    await page.screenshot({ path: `${shots}/llama-inference.png`, fullPage: true });
    check(errors.length === 0, "no script errors on the Llama model: " + errors.join("; "));
  } finally {
    srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  fs.mkdirSync(shots, { recursive: true });
  const srv = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(srv.url + "/");
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    const defaults = { sentence: "I love deep learning and AI research !", prompt: "I love", new: 3, steps: 300, strategy: "greedy",
      temperature: 1, top_k: 0, top_p: 1, min_p: 0, seed: 0 };
    const api = await post(srv.url + "/api/explain", defaults);
    check((await page.textContent("#train-loss")) === api.training.loss.toFixed(4), "training loss on screen = API");
    const att = await page.$$eval("#attention-table tr", (rows) => rows.slice(1).map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)));
    check(att.length === 8 && att.every((r, t) => r.every((v, s) => v === api.training.attention[0][0][t][s].toFixed(2))),
      "attention heatmap = API, 8x8");
    const mask = await page.$$eval("#mask-table td", (tds) => tds.map((td) => td.textContent).join(""));
    check(mask === api.training.mask.flat().join(""), "causal mask on screen = API");
    await page.click("#train-anim");  // trains the toy again, live, one streamed loss per step
    await page.waitForFunction(() => document.getElementById("loss-curve").dataset.points === "300", null, { timeout: 30000 });
    check(true, "the live loss curve received all 300 training steps");
    await page.screenshot({ path: `${shots}/training.png`, fullPage: true });

    await page.click("#tab-inference");
    check(await page.isVisible("#view-inference"), "the inference view opens");
    for (let k = 1; k <= 3; ++k) {
      await page.click("#step");
      const ctx = await page.$$eval("#context .tok", (t) => t.map((x) => x.textContent));
      check(ctx.join(" ") === ["I", "love", ...api.inference.generated.slice(0, k)].join(" "), `step ${k}: context '${ctx.join(" ")}'`);
      const rows = await page.$$eval("#kv-rows tr", (r) => r.length - 1);
      check(rows === 2 + (k - 1), `step ${k}: ${rows} KV cache rows`);
    }
    const pp = api.comparison.positions_processed;
    check(+(await page.textContent("#count-positions")) === pp.cached_total, `cached positions on screen = API (${pp.cached_total})`);
    check(+(await page.textContent("#count-flops")) === api.comparison.flops.cached, "cached FLOPs on screen = API");
    check((await page.textContent("#check-max")).startsWith(api.check.max_abs_diff.toExponential(2)), "h_t check on screen = API");
    const bars = await page.$$eval("#probs .bar-value", (b) => b.map((x) => x.textContent));
    check(bars[0] === api.inference.steps[2].top[0].prob.toFixed(3), "next-token bar chart = API");
    await page.screenshot({ path: `${shots}/inference-cached.png`, fullPage: true });
    await page.click("#kv-toggle");
    check(+(await page.textContent("#count-positions")) === pp.uncached_total, `cache off: positions = ${pp.uncached_total}`);
    check(+(await page.textContent("#count-flops")) === api.comparison.flops.uncached, "cache off: FLOPs = API");
    await page.screenshot({ path: `${shots}/inference-uncached.png`, fullPage: true });
    await page.click("#kv-toggle");

    // Sampling: the sampler inspector and the picks equal the API's for the same seed.
    await page.selectOption("#strategy", "sample");
    await page.fill("#temperature", "1.5");
    await page.fill("#top_k", "4");
    await page.fill("#seed", "3");
    await rerun(page);
    const sapi = await post(srv.url + "/api/explain", { ...defaults, strategy: "sample", temperature: 1.5, top_k: 4, seed: 3 });
    for (let k = 0; k < 3; ++k) await page.click("#step");
    const ctx = await page.$$eval("#context .tok", (t) => t.map((x) => x.textContent));
    check(ctx.slice(2).join(" ") === sapi.inference.generated.join(" "), `sampled tokens = API ('${ctx.slice(2).join(" ")}')`);
    check(await page.isVisible("#sampler-card") && (await page.textContent("#sampler")).includes("after top-k"), "sampler inspector shown");
    await page.screenshot({ path: `${shots}/sampling.png`, fullPage: true });

    // Beam search: the tree grows with the steps and holds the API's nodes.
    await page.selectOption("#strategy", "beam");
    await page.fill("#beams", "3");
    await rerun(page);
    const bapi = await post(srv.url + "/api/generate", { ...defaults, strategy: "beam", beams: 3, max_new: 3, num_return: 3, temperature: 1.5, top_k: 4, seed: 3 });
    await page.click("#reset");
    await page.click("#step");
    const n1 = await page.$$eval("#beam-tree .beam-node", (n) => n.length);
    for (let k = 0; k < 2; ++k) await page.click("#step");
    const n3 = await page.$$eval("#beam-tree .beam-node", (n) => n.length);
    check(n3 === bapi.beam_tree.length + 1 && n1 < n3, `beam tree grows: ${n1} then ${n3} nodes (API ${bapi.beam_tree.length} + root)`);
    check((await page.textContent("#beam-results")).includes(bapi.sequences[0].text.trim()), "best beam shown = API");
    await page.screenshot({ path: `${shots}/beam.png`, fullPage: true });

    await page.click("#tab-compare");
    check((await page.textContent("#cmp-cached")).endsWith(`= ${pp.cached_total}`) &&
      (await page.textContent("#cmp-uncached")).endsWith(`= ${pp.uncached_total}`), "comparison panel = API");
    await page.screenshot({ path: `${shots}/comparison.png`, fullPage: true });

    // The user's own sentence.
    await page.fill("#sentence", "the cat sat on the mat");
    await page.fill("#prompt", "the cat");
    await page.fill("#new", "2");
    await page.selectOption("#strategy", "greedy");
    await rerun(page);
    await page.click("#tab-inference");
    await page.click("#step");
    await page.click("#step");
    const own = await page.$$eval("#context .tok", (t) => t.map((x) => x.textContent));
    check(own.join(" ") === "the cat sat on", `own sentence: '${own.join(" ")}'`);
    await page.fill("#prompt", "the dog");
    await rerun(page);
    check((await page.textContent("#status")).includes("dog"), "a word outside the vocabulary shows the API's error");
    check(!(await page.isVisible("#rope-cards")) && !(await page.isVisible("#gqa")), "GPT-2 (the toy): no rotary or GQA views");
    check(errors.length === 0, "no script errors: " + errors.join("; "));

    // A served model directory, trained briefly on data/kjv.txt (so it has metrics.jsonl and
    // validation text): the page walks through it on request, every panel filled.
    const dir = fs.mkdtempSync(require("os").tmpdir() + "/tformer-page-");
    require("child_process").execFileSync(process.env.TFORMER || "build/tformer", ["train", "--data", "data/kjv.txt",
      "--preset", "tiny", "--out", dir + "/m", "--steps", "30", "--batch", "4", "--seq", "64", "--lr", "3e-3",
      "--eval-every", "10", "--eval-batches", "2", "--threads", "2"], { stdio: "ignore" });
    const msrv = await startServer(["--model", dir + "/m"]);
    try {
      const p2 = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      p2.on("pageerror", (e) => errors.push(e.message));
      await p2.goto(msrv.url + "/");
      await p2.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
      await p2.waitForSelector("#use-model-label:not([hidden])");
      const info = await (await fetch(msrv.url + "/api/info")).json();
      check(info.validation_sample && info.validation_sample.truth.length > 0, "the run's validation text gives a sample passage");
      await p2.check("#use-model");  // starts a run of the loaded model
      await p2.waitForFunction(() => document.body.dataset.runs === document.body.dataset.started &&
        document.getElementById("status").textContent.startsWith("loaded model"), null, { timeout: 60000 });
      check(!(await p2.isVisible("#sentence")) && !(await p2.isVisible("#steps")) && !(await p2.isVisible("#train-anim")),
        "the toy-only fields (sentence, training steps, train live) are hidden for the loaded model");
      check(await p2.isVisible("#truth"), "the ground-truth field is shown");
      const prompt = await p2.inputValue("#prompt"), truth = await p2.inputValue("#truth");
      check(prompt === info.validation_sample.prompt && truth === info.validation_sample.truth,
        `default prompt and ground truth from the validation text: '${prompt}' + '${truth.slice(0, 20)}…'`);
      const status = await p2.textContent("#status");
      check(status.includes("h_t check passed"), `status: '${status}'`);
      const mapi = await post(msrv.url + "/api/explain", { ...defaults, model: true, prompt, truth, new: 3 });
      check(mapi.check.ok && mapi.check.summary.startsWith("EQUAL to float32 rounding"), "API: " + mapi.check.summary);
      check((await p2.textContent("#train-loss")) === mapi.training.loss.toFixed(4), "its loss on screen = API");
      const lossPoints = await p2.$eval("#loss-curve", (s) => +s.dataset.points);
      check(lossPoints === mapi.training.run_loss.step.length && lossPoints === 30 &&
        (await p2.textContent("#loss-note")).includes("metrics.jsonl") &&
        (await p2.$$eval("#loss-curve polyline", (l) => l.length)) === 2, `the run's own loss curve (${lossPoints} points, with validation)`);
      const labels = await p2.$$eval("#mask-table tr th:first-child", (th) => th.slice(1).map((x) => [x.textContent, x.title]));
      check(labels.length === mapi.training.tokens.length && labels.every(([t]) => t.trim().length > 0) &&
        labels.some(([t, title]) => t === "␣" && title === '" " · 20'), "mask rows: every token visible (␣ for a space, raw bytes in the tooltip)");
      const chips = await p2.$$eval("#shift .tok", (c) => c.map((x) => x.textContent));
      check(chips.length > 0 && chips.every((t) => t.trim().length > 0), "no empty chips in the shift table");
      await p2.screenshot({ path: `${shots}/loaded-model-training.png`, fullPage: true });
      await p2.click("#tab-inference");
      for (let k = 0; k < 3; ++k) await p2.click("#step");
      check((await p2.textContent("#check-max")).startsWith(mapi.check.max_abs_diff.toExponential(2)), "its h_t check on screen = API");
      check((await p2.textContent("#check-summary")) === mapi.check.summary && (await p2.textContent("#check-why")).includes("1e-5 × max(1, max|h_t|)"),
        "the check's words: what was compared and why the bound");
      const ctxChips = await p2.$$eval("#context .tok", (c) => c.map((x) => x.textContent));
      check(ctxChips.length === mapi.training.tokens.length && ctxChips.every((t) => t.trim().length > 0), "context: every token visible");
      const tfRows = await p2.$$eval("#tf-rows tr", (r) => r.slice(1).map((x) => [...x.querySelectorAll("td")].map((td) => td.textContent)));
      check(tfRows.length === 3 && tfRows.every((r, i) => r[1] === mapi.teacher_forced_vs_free_running[i].ground_truth &&
        r[2].startsWith(mapi.teacher_forced_vs_free_running[i].generated)), "teacher-forced vs free-running: the model against the ground truth");
      check((await p2.$$eval("#kv-rows tr", (r) => r.length - 1)) === mapi.training.tokens.length - 1, "KV cache rows filled");
      await p2.screenshot({ path: `${shots}/loaded-model-inference.png`, fullPage: true });

      // A longer sequence (T ≥ 32): the tables scroll in their cards and say so.
      await p2.click("#tab-training");
      await p2.fill("#prompt", "And it came to pass, when men began to multiply on the face");
      await p2.fill("#truth", "");
      await p2.fill("#new", "6");
      await rerun(p2);
      check((await p2.textContent("#status")).includes("h_t check passed"), "a 66-token walkthrough passes the h_t check");
      check((await p2.textContent("#mask")).includes("scroll to see every row and column") &&
        (await p2.$eval("#mask .scroll", (d) => d.scrollHeight > d.clientHeight)), "a large mask scrolls inside its card, and says so");
      check((await p2.textContent("#hidden")).includes("the first 16 of 128 dimensions"), "hidden states say which dimensions are shown");
      await p2.click("#tab-inference");
      await p2.click("#step");
      check((await p2.textContent("#tf-free")).includes("No ground truth"), "with no ground truth the panel says how to give one");
      await p2.screenshot({ path: `${shots}/loaded-model-long.png`, fullPage: true });
      check(errors.length === 0, "no script errors on the loaded model: " + errors.join("; "));
    } finally {
      msrv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await llamaPage(browser, errors);
  } finally {
    await browser.close();
    srv.stop();
  }
  finish();
})().catch((e) => { console.error(e); process.exit(1); });
