// The explainer page: every number is read from tformer's API (/api/explain, /api/generate).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { data: null, beam: null, step: 0, timer: null };

// ---- small drawing helpers
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function fmt(x, d = 3) { return Number(x).toFixed(d); }
// Tokens arrive from the API already drawn visibly (␣ space, ↵ newline, ⇥ tab, <0xNN> a byte
// that is not a whole character); the raw text and bytes go in the tooltip. The toy's words have
// no entry in token_text: their tooltip is the word.
function rawOf(t) { return (state.data && state.data.token_text && state.data.token_text[t]) || t; }
function chip(t, cls = "") { return `<span class="tok${cls ? " " + cls : ""}" title="${esc(rawOf(t))}">${esc(t)}</span>`; }
// The same drawing for text that arrives raw (beam pieces from /api/generate).
function visible(s) {
  return s === "" ? "∅" : [...s].map((c) => c === " " ? "␣" : c === "\n" ? "↵" : c === "\t" ? "⇥" : c === "\r" ? "⏎"
    : c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127 ? `<0x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}>` : c).join("");
}
// A large model's tables (T ≥ 32 rows, d ≥ 64 columns) scroll inside their card, with a note
// saying what is shown.
function scroller(html, note) { return `<div class="scroll">${html}</div>` + (note ? `<p class="hint">${note}</p>` : ""); }
function color(v, lo, hi, diverging) {
  if (diverging) {  // blue (negative) - white - red (positive)
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1, t = Math.max(-1, Math.min(1, v / m));
    return t < 0 ? `rgb(${255 + 196 * t | 0},${255 + 120 * t | 0},255)` : `rgb(255,${255 - 170 * t | 0},${255 - 190 * t | 0})`;
  }
  const t = hi > lo ? (v - lo) / (hi - lo) : 0;
  return `rgb(${255 - 196 * t | 0},${255 - 150 * t | 0},${255 - 36 * t | 0})`;
}
function heat(m, rows, cols, opts = {}) {
  const flat = m.flat(), lo = Math.min(...flat), hi = Math.max(...flat);
  let h = `<table class="heat"${opts.id ? ` id="${opts.id}"` : ""}><tr><th></th>` + cols.map((c) => `<th>${esc(c)}</th>`).join("") + "</tr>";
  m.forEach((r, i) => {
    h += `<tr><th title="${esc(rawOf(rows[i]))}">${esc(rows[i])}</th>` + r.map((v) => {
      const dark = opts.diverging ? Math.abs(v) > 0.6 * Math.max(Math.abs(lo), Math.abs(hi)) : (v - lo) > 0.6 * (hi - lo);
      const shown = opts.int ? v : opts.sci && v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(0) : fmt(v, opts.digits ?? 2);
      return `<td style="background:${color(v, lo, hi, opts.diverging)};color:${dark ? "#fff" : "#1d2433"}">${shown}</td>`;
    }).join("") + "</tr>";
  });
  return h + "</table>";
}
function svgEl(svg, tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  svg.appendChild(e);
  return e;
}
// ys against steps xs (default 1..n); opts.val = {xs, ys} draws a second series (validation).
function lineChart(svg, ys, upto, opts = {}) {
  svg.innerHTML = "";
  if (!ys.length) return;
  const xs = opts.xs || ys.map((_, i) => i + 1), x0 = xs[0], x1 = xs[xs.length - 1];
  const W = 420, H = 180, L = 40, B = 22, hi = Math.max(...ys, ...(opts.val ? opts.val.ys : [])), lo = 0;
  const xi = (sx) => L + (W - L - 10) * (sx - x0) / Math.max(1, x1 - x0), x = (i) => xi(xs[i]);
  const y = (v) => 8 + (H - B - 8) * (1 - (v - lo) / (hi - lo || 1));
  svgEl(svg, "line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#aab" });
  svgEl(svg, "line", { x1: L, y1: 8, x2: L, y2: H - B, stroke: "#aab" });
  svgEl(svg, "text", { x: 4, y: 14 }, fmt(hi, 2));
  svgEl(svg, "text", { x: 4, y: H - B }, "0");
  svgEl(svg, "text", { x: W - 90, y: H - 6 }, `step ${x1}`);
  const n = upto ?? ys.length;
  svgEl(svg, "polyline", { fill: "none", stroke: "#3b5bdb", "stroke-width": 2,
    points: ys.slice(0, n).map((v, i) => `${x(i)},${y(v)}`).join(" ") });
  if (opts.val && opts.val.ys.length) {
    svgEl(svg, "polyline", { fill: "none", stroke: "#e8590c", "stroke-width": 2, "stroke-dasharray": "4 3",
      points: opts.val.ys.map((v, i) => `${xi(opts.val.xs[i])},${y(v)}`).join(" ") });
    svgEl(svg, "text", { x: W - 150, y: 16, fill: "#e8590c" }, "validation (dashed)");
  }
}
function barChart(svg, items, opts = {}) {
  svg.innerHTML = "";
  const W = 420, rowH = opts.rowH ?? 32, L = 120, max = Math.max(...items.map((d) => d.value), 1e-12);
  items.forEach((d, i) => {
    const w = (W - L - 70) * d.value / max, yy = 8 + i * rowH;
    svgEl(svgEl(svg, "text", { x: 4, y: yy + rowH / 2 + 3 }, d.label), "title", {}, d.title ?? d.label);
    svgEl(svg, "rect", { x: L, y: yy + 3, width: Math.max(1, w), height: rowH - 10, rx: 3, fill: d.color ?? "#3b5bdb" });
    svgEl(svg, "text", { x: L + w + 6, y: yy + rowH / 2 + 3, class: "bar-value" }, d.text ?? fmt(d.value));
  });
}

// ---- API
function params() {
  const p = {
    sentence: $("sentence").value, prompt: $("prompt").value, new: +$("new").value, steps: +$("steps").value,
    strategy: $("strategy").value, temperature: +$("temperature").value, top_k: +$("top_k").value,
    top_p: +$("top_p").value, min_p: +$("min_p").value, seed: +$("seed").value, truth: $("truth").value,
  };
  return p;
}
async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error ? j.error.message : `HTTP ${r.status}`);
  return j;
}
let runSeq = 0;
async function run() {
  const mine = ++runSeq;  // a newer run supersedes this one: stale answers are dropped
  document.body.dataset.started = String(mine);
  const p = params();
  $("status").className = "status";
  $("status").textContent = $("use-model").checked ? "walking through the loaded model…" : "training the toy in training mode…";
  try {
    const model = $("use-model").checked;  // the served model instead of the toy
    const explainParams = { ...p, model, strategy: p.strategy === "beam" ? "greedy" : p.strategy };
    if (!model) delete explainParams.truth;
    const data = await post("/api/explain", explainParams);
    const beam = p.strategy === "beam"
      ? await post("/api/generate", { ...p, truth: undefined, model, max_new: p.new, beams: +$("beams").value, length_penalty: +$("length_penalty").value, num_return: Math.min(3, +$("beams").value) })
      : null;
    if (mine !== runSeq) return;
    state.data = data;
    state.beam = beam;
    document.body.dataset.arch = data.model.arch || "gpt2";  // picks the Llama-only views
    state.step = 0;
    renderTraining();
    renderInference();
    renderCompare();
    $("status").textContent = `${state.data.kind === "toy" ? `trained ${state.data.training.steps} steps` : "loaded model"}; ${state.data.check.ok ? "h_t check passed" : "h_t check FAILED"}`;
    document.body.dataset.ready = "1";
    document.body.dataset.runs = String(mine);
  } catch (e) {
    if (mine !== runSeq) return;
    document.body.dataset.runs = String(mine);
    $("status").className = "status error";
    $("status").textContent = e.message;
  }
}

// ---- training view
function renderTraining() {
  const d = state.data, tr = d.training, T = tr.tokens.length;
  const pos = tr.tokens.map((_, i) => String(i + 1));
  let h = '<table class="plain"><tr><th>position</th>' + pos.map((p) => `<th>${p}</th>`).join("") + "</tr>";
  h += "<tr><td>input xᵢ</td>" + tr.tokens.map((t) => `<td>${chip(t)}</td>`).join("") + "</tr>";
  h += "<tr><td>target xᵢ₊₁</td>" + tr.tokens.map((_, i) => i + 1 < T ? `<td>${chip(tr.tokens[i + 1], "gen")}</td>` : "<td>—</td>").join("") + "</tr>";
  h += "<tr><td>p(target)</td>" + tr.per_position.map((q) => `<td>${fmt(q.p_target)}</td>`).join("") + "<td>—</td></tr>";
  h += '<tr><td>loss</td>' + tr.per_position.map((q) => `<td class="pos-loss">${fmt(q.loss, 4)}</td>`).join("") + "<td>—</td></tr></table>";
  $("shift").innerHTML = scroller(h, T > 16 ? `${T} positions: scroll sideways for all of them` : "");
  $("train-loss").textContent = fmt(tr.loss, 4);
  drawLossPanel(d);
  const big = T >= 24 ? `all ${T}×${T} positions; scroll to see every row and column` : "";
  $("mask").innerHTML = scroller(heat(tr.mask, tr.tokens, pos, { int: true, id: "mask-table" }), big);
  const sel = $("head-select");
  sel.innerHTML = "";
  if (d.gqa) headOptionsByKvHead(sel, tr.attention.length, d.gqa);
  else tr.attention.forEach((heads, l) => heads.forEach((_, hh) => sel.add(new Option(`layer ${l + 1} head ${hh + 1}`, `${l},${hh}`))));
  const drawAtt = () => {
    const [l, hh] = sel.value.split(",").map(Number);
    $("attention").innerHTML = scroller(heat(tr.attention[l][hh], tr.tokens, pos, { id: "attention-table" }), big);
    if (d.gqa) drawGqa(d.gqa, hh);
  };
  sel.onchange = drawAtt;
  drawAtt();
  if (d.rope) drawRope(d.rope, tr.tokens);
  const dims = Math.min(16, tr.hidden[0].length);  // a real model's d does not fit: the first 16
  $("hidden").innerHTML = scroller(heat(tr.hidden.map((r) => r.slice(0, dims)), tr.tokens.map((t, i) => `h${i + 1}`),
    tr.hidden[0].slice(0, dims).map((_, i) => `d${i + 1}`), { id: "hidden-table" }),
    dims < tr.hidden[0].length ? `the first ${dims} of ${tr.hidden[0].length} dimensions, all ${T} positions` : "");
  const V = tr.logit_grad.length ? tr.logit_grad[0].length : 0;
  if (V <= 64) {
    const vocab = d.vocab || tr.logit_grad[0].map((_, i) => i);
    $("logit-grad").innerHTML = scroller(heat(tr.logit_grad, tr.per_position.map((q) => `${q.position}→${q.target}`), vocab, { diverging: true, sci: true, id: "grad-table" }));
  } else {  // too wide to draw: the target column of every row
    $("logit-grad").innerHTML = scroller('<table class="plain" id="grad-table"><tr><th>position → target</th><th>p − 1 at the target</th></tr>' +
      tr.per_position.map((q, i) => `<tr><td>${q.position} → ${chip(q.target)}</td><td>${fmt(tr.logit_grad[i][tr.ids[i + 1]], 4)}</td></tr>`).join("") + "</table>",
      `the vocabulary has ${V} entries: only the target's column is shown (every other entry is p, small and positive)`);
  }
}
// ---- the Llama family: grouped-query attention and rotary positions
// Heads are numbered from 0 here, as in the rule kv = ⌊h / (H/HKV)⌋ (HF's repeat_kv).
const range = (a) => a.length > 1 ? `${a[0]}–${a[a.length - 1]}` : String(a[0]);
function headOptionsByKvHead(sel, L, g) {
  for (let l = 0; l < L; ++l) g.groups.forEach((grp) => {
    const og = document.createElement("optgroup");
    og.label = `layer ${l + 1} · K/V head ${grp.kv_head} (query heads ${range(grp.query_heads)})`;
    grp.query_heads.forEach((h) => og.appendChild(new Option(`layer ${l + 1} · query head ${h}`, `${l},${h}`)));
    sel.appendChild(og);
  });
}
// Which query heads read the same K and V: one box per K/V head, the shown head outlined;
// clicking a head shows its attention.
function drawGqa(g, shown) {
  const kv = g.kv_head_of[shown], mates = g.groups[kv].query_heads.filter((h) => h !== shown);
  const ratio = g.n_head / g.n_kv_head;
  $("gqa").innerHTML = `<p id="gqa-summary"><b>Grouped-query attention</b>: ${esc(g.summary)}.</p>` +
    '<div class="gqa-groups">' + g.groups.map((grp) => `<div class="gqa-group"><b>K/V head ${grp.kv_head}</b>` +
      grp.query_heads.map((h) => `<span class="tok${h === shown ? " new" : ""}" data-head="${h}" title="query head ${h} reads K/V head ${grp.kv_head}">q${h}</span>`).join("") +
      "</div>").join("") + "</div>" +
    `<p id="gqa-selected">Shown: query head ${shown}, which reads K/V head ${kv}` +
    (mates.length ? ` together with head${mates.length > 1 ? "s" : ""} ${mates.join(mates.length > 2 ? ", " : " and ")}: the same keys and values, its own queries, so its own pattern.` : " alone.") + "</p>" +
    `<p class="hint">Query head h reads K/V head ⌊h / (${g.n_head}/${g.n_kv_head})⌋ = ⌊h / ${ratio}⌋. ` +
    `The KV cache stores ${g.n_kv_head} K/V head${g.n_kv_head > 1 ? "s" : ""} a layer, not ${g.n_head}: ${g.kv_cache_row_bytes} bytes per position instead of ${g.kv_cache_row_bytes_mha}.</p>`;
  $("gqa").querySelectorAll("[data-head]").forEach((e) => (e.onclick = () => {
    const sel = $("head-select"), l = sel.value.split(",")[0];
    sel.value = `${l},${e.dataset.head}`;
    sel.onchange();
  }));
}
// 6.28, 62.8, 628, 6.3k, 1.3M: positions per full turn, narrow enough for a table cell.
const compact = (n) => n < 1e3 ? n.toPrecision(3) : n < 1e6 ? (n / 1e3).toPrecision(2) + "k" : (n / 1e6).toPrecision(2) + "M";
const degrees = (rad) => Math.round(rad * 180 / Math.PI) % 360;  // the turn, mod one full turn
function angleColor(rad) { return `hsl(${degrees(rad)},70%,78%)`; }
// The angle table (positions × pairs) and the dials of one position, from the API's angles.
function drawRope(r, tokens) {
  const T = r.angles.length, P = r.pairs, sc = r.scaling;
  const scaled = sc.type === "none" ? "" : sc.type === "linear" ? `, every frequency divided by ${sc.factor} (linear scaling)` :
    `, llama3 scaling: slow pairs (wavelength over ${sc.original_max_position_embeddings / sc.low_freq_factor} positions) divided by ${sc.factor}, fast ones kept, a ramp between`;
  $("rope-caption").textContent = `Before attention, q and k of every layer and head are turned pair by pair: dimension i with i + ${P}, ` +
    `by θᵢ = position × ${r.theta}^(−2i/${r.head_dim})${scaled}. Each cell is that angle in degrees (mod 360), coloured around the colour wheel. ` +
    "The position id t counts from 0, so the first token is not turned. Early pairs spin fast, late ones slowly, like the hands of a clock; since both q and k turn, their dot product depends only on how far apart the two positions are.";
  let h = '<table class="heat rope" id="rope-table"><tr><th title="rows: position id t and its token; columns: pair i">t \\ i</th>' +
    r.inv_freq.map((f, i) => `<th title="pair ${i}: dimensions ${i} and ${i + P}; ${fmt(f, 6)} rad per position, a full turn every ${fmt(2 * Math.PI / f, 1)} positions">${i}</th>`).join("") + "</tr>";
  r.angles.forEach((row, t) => {
    h += `<tr><th title="${esc(rawOf(tokens[t]))}">${t} ${esc(tokens[t])}</th>` + row.map((a, i) =>
      `<td style="background:${angleColor(a)}" title="position ${t}, pair ${i}: θ = ${t} × ${fmt(r.inv_freq[i], 6)} = ${fmt(a, 4)} rad">${degrees(a)}</td>`).join("") + "</tr>";
  });
  h += '<tr><th>turn every</th>' + r.inv_freq.map((f) => `<td>${compact(2 * Math.PI / f)}</td>`).join("") + "</tr></table>";
  $("rope").innerHTML = scroller(h, `columns: the ${P} pairs of a head of ${r.head_dim}; rows: position ids 0..${T - 1}; last row: positions per full turn`);
  const sel = $("rope-pos");
  sel.innerHTML = "";
  tokens.forEach((t, i) => sel.add(new Option(`t = ${i} (${t})`, String(i))));
  sel.value = String(T - 1);
  sel.onchange = () => drawDials(r, +sel.value);
  drawDials(r, T - 1);
}
function drawDials(r, t) {
  const svg = $("rope-dials"), P = r.pairs, perRow = Math.min(P, 8), R = 17, W = 52, H = 62, rows = Math.ceil(P / perRow);
  svg.setAttribute("viewBox", `0 0 ${perRow * W + 8} ${rows * H + 4}`);
  svg.innerHTML = "";
  const scaled = r.scaling.type !== "none";
  for (let i = 0; i < P; ++i) {
    const cx = 4 + W / 2 + (i % perRow) * W, cy = 4 + R + Math.floor(i / perRow) * H, a = r.angles[t][i];
    const g = svgEl(svg, "g", { class: "dial", "data-pair": i });
    svgEl(g, "title", {}, `pair ${i} (dimensions ${i} and ${i + P}) at position ${t}: θ = ${t} × ${fmt(r.inv_freq[i], 6)} = ${fmt(a, 4)} rad`);
    svgEl(g, "circle", { cx, cy, r: R, fill: angleColor(a), stroke: "#99a" });
    if (scaled) {  // where the pair would point without the scaling
      const u = t * r.inv_freq_unscaled[i];
      svgEl(g, "line", { x1: cx, y1: cy, x2: cx + R * Math.cos(u), y2: cy - R * Math.sin(u), stroke: "#889", "stroke-dasharray": "2 2" });
    }
    svgEl(g, "line", { x1: cx, y1: cy, x2: cx + R * Math.cos(a), y2: cy - R * Math.sin(a), stroke: "#1d2433", "stroke-width": 2 });
    svgEl(g, "text", { x: cx - R, y: cy + R + 13, class: "dial-label" }, `${i}: ${degrees(a)}°`);
  }
  $("rope-dials-note").textContent = `Each dial is one pair (q and k alike) at position ${t}: the needle starts pointing right at position 0 and turns ` +
    `counter-clockwise by θᵢ per position.${scaled ? " Dashed: where it would point without the rope scaling." : ""} The same angles in every layer and head: rotary has no weights.`;
}

// The toy's curve is its own training on the sentence; a loaded model's is the run that trained
// it (metrics.jsonl in its folder), when it has one.
function drawLossPanel(d) {
  const tr = d.training, r = tr.run_loss;
  if (d.kind === "toy") {
    $("loss-title").textContent = "Loss while training";
    $("loss-note").textContent = `the toy's ${tr.steps} AdamW steps on the sentence; "train live" streams them again`;
    lineChart($("loss-curve"), tr.loss_curve || []);
  } else if (r) {
    $("loss-title").textContent = "Loss of the run that trained this model";
    $("loss-note").textContent = `${r.source}: ${r.points_of} steps` + (r.step.length < r.points_of ? ` (every ${Math.ceil(r.points_of / r.step.length)}th drawn)` : "") +
      `, loss ${fmt(r.loss[0], 3)} → ${fmt(r.loss[r.loss.length - 1], 3)}` + (r.val_loss.length ? `, validation ${fmt(r.val_loss[r.val_loss.length - 1], 3)} (dashed)` : "");
    lineChart($("loss-curve"), r.loss, undefined, { xs: r.step, val: { xs: r.val_step, ys: r.val_loss } });
  } else {
    $("loss-title").textContent = "Loss while training";
    $("loss-note").textContent = "this model folder has no metrics.jsonl (it was not trained by tformer train, e.g. a random init): no training history to draw. Its loss on the sequence above is the training-mode loss.";
    $("loss-curve").innerHTML = "";
  }
  // data-points counts what "train live" streamed (the browser test waits on it): not the
  // toy's curve drawn here from /api/explain.
  if (d.kind === "toy") delete $("loss-curve").dataset.points;
  else $("loss-curve").dataset.points = String(r ? r.loss.length : 0);
}

// ---- inference view
function flopsPerPosition(m, t) {
  const f = m.flops_per_position;  // the Llama block's, from the API
  if (f) return f.fixed + f.per_context_position * t;
  return 2 * (m.n_layer * 12 * m.n_embd * m.n_embd + m.vocab_size * m.n_embd) + m.n_layer * 4 * t * m.n_embd;
}
function counters(k) {  // after k steps, as the comparison in the API counts them
  const d = state.data, m = d.model, P = d.inference.prompt.length, cached = $("kv-toggle").checked;
  let positions = 0, scores = 0, flops = 0;
  for (let s = 0; s < k; ++s) {
    const ctx = P + s;
    if (!cached) {
      positions += ctx; scores += ctx * (ctx + 1) / 2;
      for (let t = 1; t <= ctx; ++t) flops += flopsPerPosition(m, t);
    } else if (s === 0) {
      positions += P; scores += P * (P + 1) / 2;
      for (let t = 1; t <= P; ++t) flops += flopsPerPosition(m, t);
    } else {
      positions += 1; scores += ctx; flops += flopsPerPosition(m, ctx);
    }
  }
  return { passes: k, positions, scores: scores * m.n_layer * m.n_head, flops };
}
function renderInference() {
  const d = state.data, inf = d.inference, k = state.step, steps = inf.steps;
  const c = counters(k);
  $("count-passes").textContent = c.passes;
  $("count-positions").textContent = c.positions;
  $("count-scores").textContent = c.scores;
  $("count-flops").textContent = c.flops;
  const gen = inf.generated.slice(0, k);
  $("context").innerHTML = inf.prompt.map((t) => chip(t)).join("") +
    gen.map((t, i) => chip(t, "gen" + (i === k - 1 ? " new" : ""))).join("");
  const cur = k > 0 ? steps[k - 1] : null;
  $("step-note").textContent = cur
    ? `step ${k}: processed ${cur.processed.length > 12 ? `the ${cur.processed.length} prompt tokens in one parallel pass (prefill)` : `[${cur.processed.join(", ")}]`} ${$("kv-toggle").checked
      ? `— the cache adds ${cur.cache_rows_added.length > 12 ? `rows 1..${cur.cache_rows_added.length}` : `row ${cur.cache_rows_added.join(", ")}`} and reads rows 1..${cur.cache_rows_read.length}`
      : `— without the cache all ${cur.context.length} positions are recomputed`}; picked “${cur.picked}”`
    : "Press Step: the prompt is prefilled in one parallel pass, then each new token is one cached step.";
  // KV cache rows filled so far (one row per processed position).
  const rows = [];
  steps.slice(0, k).forEach((s) => s.processed.forEach((t, i) => rows.push({ row: s.cache_rows_added[i], tok: t, step: s.step })));
  const m = d.model;
  const g = d.gqa;  // a Llama model's cache holds its K/V heads, not one per query head
  const width = g ? `2 × ${g.n_kv_head} K/V head${g.n_kv_head > 1 ? "s" : ""} × ${m.head_dim} = ${2 * g.n_kv_head * m.head_dim} floats a row, shared by ${m.n_head} query heads` : `2 × d = ${m.n_embd} floats a row`;
  const bytes = g ? `; <span id="kv-bytes">${rows.length * g.kv_cache_row_bytes} bytes in all (${rows.length * g.kv_cache_row_bytes_mha} with one K/V head per query head)</span>` : "";
  $("kv-table").innerHTML = scroller('<table class="plain" id="kv-rows"><tr><th>row</th><th>token</th><th>written at step</th></tr>' +
    rows.map((r) => `<tr><td>${r.row}</td><td>${chip(r.tok)}</td><td>${r.step}</td></tr>`).join("") + "</table>",
    `${rows.length} rows of K and V per layer (${m.n_layer} layer${m.n_layer > 1 ? "s" : ""} × ${width})${bytes}${$("kv-toggle").checked ? "" : " (cache off: these would be recomputed every step)"}`);
  if (cur) barChart($("probs"), cur.top.map((t) => ({ label: t.token, title: rawOf(t.token), value: t.prob, color: t.token === cur.picked ? "#e8590c" : "#3b5bdb" })));
  else $("probs").innerHTML = "";
  // The check's words and bound come from the API (docs/explain.md): the same in the terminal.
  const ck = d.check, diffs = ck.per_position.slice(0, k === 0 ? 0 : inf.prompt.length + k - 1), unit = Math.max(1, ck.scale);
  $("check").innerHTML = diffs.length ? scroller('<table class="plain" id="check-rows"><tr><th>t</th><th>max |diff|</th><th>÷ max(1, max|h|)</th></tr>' +
    diffs.map((x) => `<tr><td>${x.t}</td><td>${x.max_abs_diff.toExponential(2)}</td><td>${(x.max_abs_diff / unit).toExponential(1)}</td></tr>`).join("") + "</table>") : "";
  $("check-max").textContent = k ? ck.max_abs_diff.toExponential(2) + (ck.ok ? ` ≤ ${ck.tolerance.toExponential(1)} ✓` : ` > ${ck.tolerance.toExponential(1)} ✗`) : "–";
  $("check-summary").textContent = k ? ck.summary : "";
  $("check-summary").className = ck.ok ? "verdict ok" : "verdict bad";
  $("check-why").textContent = k ? `Compared: h_t, the last block's output, of each processed position from the cached steps against the ${ck.reference}. ` +
    `Equal means equal to float32 rounding: the two modes add the same products in different orders, so they may differ in the last bits, ` +
    `more for larger values; the bound is 1e-5 × max(1, max|h_t|) = 1e-5 × ${fmt(unit, 3)} = ${ck.tolerance.toExponential(1)}. ` +
    `A wrong cache row or mask moves h_t by far more.` : "";
  renderTruth(k);
  // Sampler inspector.
  $("sampler").innerHTML = cur && cur.sampler ? cur.sampler.map((s) => `<p><b>after ${s.after}</b>: ` +
    s.candidates.map((c) => `<span class="tok" title="${esc(rawOf(c.token))}">${esc(c.token)} ${fmt(c.prob)}</span>`).join(" ") + "</p>").join("") : "";
  renderBeam();
}
// Teacher-forced vs free-running: the ground truth (the toy's sentence, or the continuation the
// user gave for a loaded model) against what the model generated from its own outputs.
function renderTruth(k) {
  const d = state.data, tf = d.teacher_forced_vs_free_running || [];
  if (d.kind === "model" && d.truth.source === "none") {
    $("tf-free").innerHTML = '<p class="hint" id="tf-none">No ground truth to compare with: type the continuation you expect after the prompt in “Ground truth” above' +
      (state.info && state.info.validation_sample ? "" : " (this model folder is not a training run with validation text, so there is no default)") + ".</p>";
    return;
  }
  const src = d.kind === "toy" ? "the sentence after the prompt" : d.truth.source === "given" ? "the “Ground truth” field above" : "the run's validation text after the prompt";
  $("tf-free").innerHTML = `<p class="hint">Ground truth: ${src}. Teacher forcing feeds it as the input; free-running feeds back the model's own picks.</p>` +
    '<table class="plain" id="tf-rows"><tr><th>position</th><th>ground truth (teacher-forced input)</th><th>generated (free-running)</th></tr>' +
    tf.slice(0, k).map((x) => `<tr><td>${x.position}</td><td>${x.ground_truth ? chip(x.ground_truth) : "—"}</td><td>${chip(x.generated, x.matches ? "gen" : "miss")}${x.matches ? "" : " ← leaves the ground truth"}</td></tr>`).join("") + "</table>";
}
function renderBeam() {
  const svg = $("beam-tree");
  svg.innerHTML = "";
  if (!state.beam) return;
  const k = state.step, nodes = state.beam.beam_tree.filter((n) => n.step <= k);
  const byStep = {};
  nodes.forEach((n) => (byStep[n.step] = byStep[n.step] || []).push(n));
  const pos = { 0: { x: 40, y: 130 } };
  const W = 800, H = 260;
  Object.keys(byStep).forEach((s) => byStep[s].forEach((n, i, arr) => (pos[n.id] = { x: 40 + s * 150, y: 20 + (H - 40) * (i + 0.5) / arr.length })));
  nodes.forEach((n) => svgEl(svg, "line", { x1: pos[n.parent].x, y1: pos[n.parent].y, x2: pos[n.id].x, y2: pos[n.id].y, stroke: "#99a" }));
  svgEl(svg, "circle", { cx: 40, cy: 130, r: 6, fill: "#3b5bdb", class: "beam-node" });
  svgEl(svg, "text", { x: 4, y: 150 }, state.data.inference.prompt.join(state.data.kind === "toy" ? " " : ""));
  nodes.forEach((n) => {
    const p = pos[n.id];
    svgEl(svg, n.finished ? "rect" : "circle", n.finished ? { x: p.x - 6, y: p.y - 6, width: 12, height: 12, fill: "#e8590c", class: "beam-node" }
      : { cx: p.x, cy: p.y, r: 6, fill: "#3b5bdb", class: "beam-node" });
    svgEl(svgEl(svg, "text", { x: p.x + 9, y: p.y + 4 }, `${state.data.kind === "toy" ? n.piece.trim() : visible(n.piece)} (${fmt(n.cum_logprob, 2)})`), "title", {}, JSON.stringify(n.piece));
  });
  $("beam-results").innerHTML = k >= state.data.inference.steps.length ? '<table class="plain"><tr><th>#</th><th>sequence</th><th>score</th><th>finish</th></tr>' +
    state.beam.sequences.map((s, i) => `<tr><td>${i + 1}</td><td>${esc(s.text)}</td><td>${fmt(s.score, 4)}</td><td>${s.finish_reason}</td></tr>`).join("") + "</table>" : "";
}

// ---- comparison view
function renderCompare() {
  const c = state.data.comparison;
  barChart($("cmp-passes"), [
    { label: "training", value: c.forward_passes.training, text: `${c.forward_passes.training} pass` },
    { label: "inference", value: c.forward_passes.inference, text: `${c.forward_passes.inference} passes`, color: "#e8590c" },
    { label: "FLOPs, training", value: c.flops.training_pass, text: String(c.flops.training_pass) },
    { label: "FLOPs, inference", value: c.flops.cached, text: String(c.flops.cached), color: "#e8590c" }], { rowH: 44 });
  barChart($("cmp-cache"), [
    { label: "positions, cached", value: c.positions_processed.cached_total, text: String(c.positions_processed.cached_total) },
    { label: "positions, uncached", value: c.positions_processed.uncached_total, text: String(c.positions_processed.uncached_total), color: "#e8590c" },
    { label: "FLOPs, cached", value: c.flops.cached, text: String(c.flops.cached) },
    { label: "FLOPs, uncached", value: c.flops.uncached, text: String(c.flops.uncached), color: "#e8590c" }], { rowH: 44 });
  const pp = c.positions_processed;
  $("cmp-table").innerHTML = `<tr><th></th><th>with KV cache</th><th>without</th></tr>
    <tr><td>positions processed</td><td id="cmp-cached">${pp.cached.join(" + ")} = ${pp.cached_total}</td><td id="cmp-uncached">${pp.uncached.join(" + ")} = ${pp.uncached_total}</td></tr>
    <tr><td>attention scores</td><td>${c.attention_scores.cached}</td><td>${c.attention_scores.uncached}</td></tr>
    <tr><td>FLOPs</td><td>${c.flops.cached}</td><td>${c.flops.uncached}</td></tr>`;
  $("cmp-table").className = "plain";
}

// ---- wiring
function setStrategyClass() { document.body.className = "s-" + $("strategy").value; }
document.querySelectorAll(".tab").forEach((b) => (b.onclick = () => {
  document.querySelectorAll(".tab").forEach((x) => x.classList.toggle("active", x === b));
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + b.dataset.view));
}));
$("run").onclick = run;
$("strategy").onchange = () => { setStrategyClass(); run(); };
$("step").onclick = () => { if (state.data && state.step < state.data.inference.steps.length) { state.step++; renderInference(); } };
$("reset").onclick = () => { clearInterval(state.timer); state.step = 0; renderInference(); };
$("play").onclick = () => {
  clearInterval(state.timer);
  state.timer = setInterval(() => {
    if (!state.data || state.step >= state.data.inference.steps.length) return clearInterval(state.timer);
    state.step++; renderInference();
  }, 700);
};
$("kv-toggle").onchange = () => state.data && renderInference();
// Trains the toy live: /api/train streams one loss per step and the curve grows as they arrive.
$("train-anim").onclick = async () => {
  const p = params(), ys = [];
  const r = await fetch("/api/train", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(p) });
  const reader = r.body.getReader(), dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const e = JSON.parse(buf.slice(6, i));
      buf = buf.slice(i + 2);
      if (e.loss !== undefined) ys.push(e.loss);
      if (e.error) { $("status").className = "status error"; $("status").textContent = e.error.message; }
    }
    lineChart($("loss-curve"), ys, ys.length);
  }
  $("loss-curve").dataset.points = String(ys.length);
};
// Walking through the loaded model: the toy-only fields (its sentence, its training steps, the
// live training) hide, the ground-truth field shows; a trained run's validation text gives the
// first default prompt and ground truth.
function setWalkMode() {
  const model = $("use-model").checked;
  document.body.dataset.walk = model ? "model" : "toy";
  $("run").textContent = model ? "Run the loaded model" : "Train & run";
  const v = state.info && state.info.validation_sample;
  if (model && v && !$("truth").value && !state.usedSample) {
    state.usedSample = true;
    $("prompt").value = v.prompt;
    $("truth").value = v.truth;
    $("truth-note").textContent = "prompt and ground truth: a passage of the run's validation text";
  }
}
$("use-model").onchange = () => { setWalkMode(); run(); };
// The note says where the defaults came from: once the user edits them, it no longer holds.
$("prompt").addEventListener("input", () => ($("truth-note").textContent = ""));
$("truth").addEventListener("input", () => ($("truth-note").textContent = ""));
fetch("/api/info").then((r) => r.json()).then((m) => {
  state.info = m;
  const heads = m.n_kv_head ? `${m.n_head} query heads / ${m.n_kv_head} K/V heads` : `${m.n_head} head(s)`;
  $("model-info").textContent = `loaded model: ${m.model} · ${m.n_layer} layer(s), ${heads}, d = ${m.n_embd}, vocab ${m.vocab_size}, ${m.parameters} parameters · the page trains its own toy on your sentence` +
    (m.model !== "toy" ? ' unless you tick "walk through the loaded model"' : "");
  if (m.model !== "toy") $("use-model-label").hidden = false;
});
setStrategyClass();
setWalkMode();
run();
