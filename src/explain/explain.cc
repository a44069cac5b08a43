#include "explain/explain.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "explain/h_check.h"
#include "explain/llama_views.h"
#include "explain/token_display.h"
#include "kernels/kernels.h"
#include "train/optimizer.h"

namespace tf {

namespace {

// The embedding table of the page the project was created from (shared/mission/seed.txt).
const std::vector<std::pair<std::string, std::vector<float>>> kExampleEmbeddings = {
    {"I", {0.2f, 0.5f, -0.1f, 0.3f}},         {"love", {0.8f, -0.2f, 0.4f, 0.1f}}, {"deep", {-0.3f, 0.6f, 0.2f, 0.5f}},
    {"learning", {0.4f, 0.1f, -0.5f, 0.7f}},  {"and", {0.1f, -0.4f, 0.3f, -0.2f}}, {"AI", {0.9f, 0.3f, -0.1f, 0.6f}},
    {"research", {-0.2f, 0.7f, 0.4f, -0.3f}}, {"!", {0.5f, -0.1f, 0.6f, 0.2f}}};

constexpr int kToyPositions = 32;
constexpr int kToyD = 4;

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  std::string x;
  while (in >> x) w.push_back(x);
  return w;
}

nlohmann::json rows(const float* p, int n, int d) {
  nlohmann::json a = nlohmann::json::array();
  for (int i = 0; i < n; ++i) a.push_back(std::vector<float>(p + size_t(i) * d, p + size_t(i + 1) * d));
  return a;
}

std::vector<float> softmax(const float* l, int V) {
  std::vector<float> p(V);
  float mx = *std::max_element(l, l + V);
  double s = 0;
  for (int v = 0; v < V; ++v) s += (p[v] = std::exp(l[v] - mx));
  for (auto& x : p) x = float(x / s);
  return p;
}

nlohmann::json top_candidates(const float* logits, int V, const std::function<std::string(int)>& name, int k) {
  const auto p = softmax(logits, V);
  std::vector<int> idx(V);
  for (int v = 0; v < V; ++v) idx[v] = v;
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return p[a] != p[b] ? p[a] > p[b] : a < b; });
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; i < std::min(k, V); ++i)
    out.push_back({{"token", name(idx[i])}, {"id", idx[i]}, {"prob", p[idx[i]]}});
  return out;
}

using Names = std::function<std::string(int)>;

std::vector<std::string> names_of(const std::vector<int>& ids, const Names& names) {
  std::vector<std::string> s;
  for (int id : ids) s.push_back(names(id));
  return s;
}

// Training mode: ONE parallel pass over the whole sequence, the causal mask inside. Keeps h_t
// of every position in h_train for the check.
nlohmann::json training_pass(const Model& g, Workspace& ws, const std::vector<int>& train_tokens, const Names& names,
                             std::vector<float>& h_train) {
  const Config& c = g.config();
  const int V = c.vocab_size, C = c.n_embd, L = c.n_layer, NH = c.n_head;
  const int T = int(train_tokens.size());
  g.forward(ws, train_tokens.data(), 1, T);
  const float* logits = g.head_all(ws);  // (T, V)
  nlohmann::json tr;
  tr["tokens"] = names_of(train_tokens, names);
  tr["ids"] = train_tokens;
  tr["forward_passes"] = 1;
  nlohmann::json mask = nlohmann::json::array();
  for (int t = 0; t < T; ++t) {
    std::vector<int> row(T);
    for (int s = 0; s < T; ++s) row[s] = s <= t;
    mask.push_back(row);
  }
  tr["mask"] = mask;
  nlohmann::json layers = nlohmann::json::array();
  for (int l = 0; l < L; ++l) {
    nlohmann::json heads = nlohmann::json::array();
    for (int h = 0; h < NH; ++h) heads.push_back(rows(ws.attention(l) + size_t(h) * T * T, T, T));
    layers.push_back(heads);
  }
  tr["attention"] = layers;                        // [layer][head][query t][key s]
  tr["embedding_sum"] = rows(ws.hidden(0), T, C);  // token + position embedding
  tr["hidden"] = rows(ws.hidden(L), T, C);         // h_t: the output of the last block
  // The shift: logits at position i predict token i+1; per-position loss and its gradient at
  // the logits, p − one-hot (the mean's gradient is that divided by T−1).
  nlohmann::json per_pos = nlohmann::json::array(), grads = nlohmann::json::array(), preds = nlohmann::json::array();
  double loss = 0;
  for (int t = 0; t + 1 < T; ++t) {
    auto p = softmax(logits + size_t(t) * V, V);
    const int target = train_tokens[t + 1];
    const double lt = -std::log(std::max(p[target], 1e-30f));
    loss += lt;
    per_pos.push_back({{"position", t + 1},
                       {"input", names(train_tokens[t])},
                       {"target", names(target)},
                       {"loss", lt},
                       {"p_target", p[target]}});
    std::vector<float> gr = p;
    gr[target] -= 1.0f;
    grads.push_back(gr);
    preds.push_back(names(int(std::max_element(p.begin(), p.end()) - p.begin())));
  }
  tr["loss"] = T > 1 ? loss / (T - 1) : 0.0;
  tr["per_position"] = per_pos;
  tr["logit_grad"] = grads;
  tr["argmax_predictions"] = preds;
  h_train.assign(ws.hidden(L), ws.hidden(L) + size_t(T) * C);
  return tr;
}

// Inference mode: prefill the prompt, then one cached step per new token: the decode loop of
// `tformer generate`, watched through its hooks. Records every step's cache rows, h_t,
// candidates and pick.
struct Inference {
  nlohmann::json json;
  std::vector<std::vector<float>> h;  // h_t of every processed position
  std::vector<int> generated;
};
Inference inference_steps(const Model& g, Workspace& ws, const std::vector<int>& prompt, int new_tokens,
                          const GenerateOptions& gen_opts, const Names& names, const CacheHook& after_step) {
  const Config& c = g.config();
  const int V = c.vocab_size, C = c.n_embd, L = c.n_layer;
  const int P = int(prompt.size());
  GenerateOptions o = gen_opts;  // one sequence of exactly new_tokens
  o.max_new = new_tokens;
  o.min_new = 0;
  o.eos = -1;
  o.stop.clear();
  o.kv_cache = true;
  if (std::holds_alternative<BeamSearch>(o.search)) o.search = GreedySearch{};  // one sequence: its h_t
  const SampleSearch* sampling = std::get_if<SampleSearch>(&o.search);
  if (sampling && sampling->filters.temperature == 0) sampling = nullptr;
  if (auto* s = std::get_if<SampleSearch>(&o.search)) s->num_return = 1;
  Inference out;
  nlohmann::json steps = nlohmann::json::array();
  std::vector<int> context = prompt;
  DecodeHooks hooks;
  hooks.on_pass = [&](int k, const Workspace& w, std::span<const float> logits) {
    nlohmann::json st;
    st["step"] = k + 1;
    std::vector<int> processed;
    if (k == 0) {
      processed = prompt;
      for (int t = 0; t < P; ++t) out.h.emplace_back(w.hidden(L) + size_t(t) * C, w.hidden(L) + size_t(t + 1) * C);
    } else {
      processed = {out.generated.back()};
      out.h.emplace_back(w.step_hidden(L, 0), w.step_hidden(L, 0) + C);
    }
    const int len = P + k;  // positions in the cache after this pass
    std::vector<int> added, read;
    for (int t = len - int(processed.size()); t < len; ++t) added.push_back(t + 1);
    for (int t = 0; t < len; ++t) read.push_back(t + 1);
    st["processed"] = names_of(processed, names);
    st["positions"] = added;
    st["cache_rows_added"] = added;
    st["cache_rows_read"] = read;
    st["context"] = names_of(context, names);
    st["h"] = out.h.back();
    st["top"] = top_candidates(logits.data(), V, names, 5);
    steps.push_back(st);
  };
  // The sampler's stages on the distribution the loop draws from: its logits after the penalties.
  if (sampling)
    hooks.on_choose = [&](int, std::span<const float> logits) {
      std::vector<std::vector<Candidate>> trace;
      sampling_distribution(logits.first(V), sampling->filters, &trace);
      nlohmann::json insp = nlohmann::json::array();
      const char* stage[] = {"temperature", "top-k", "top-p", "min-p"};
      for (size_t s = 0; s < trace.size(); ++s) {
        nlohmann::json cs = nlohmann::json::array();
        for (auto& cd : trace[s]) cs.push_back({{"token", names(cd.token)}, {"prob", cd.prob}});
        insp.push_back({{"after", stage[s]}, {"candidates", cs}});
      }
      steps.back()["sampler"] = insp;
    };
  hooks.on_token = [&](int, int token, float) {
    steps.back()["picked"] = names(token);
    steps.back()["picked_id"] = token;
    out.generated.push_back(token);
    context.push_back(token);
    return true;
  };
  if (after_step) hooks.after_pass = [&](KvCache& cache, const KvSeq& seq, int k) { after_step(cache, seq, k + 1); };
  generate(g, nullptr, prompt, o, hooks, &ws);
  // The rows written: the prompt's and one per step after the prefill.
  const size_t rows = size_t(P) + new_tokens - 1;
  out.json = {{"prompt", names_of(prompt, names)},
              {"generated", names_of(out.generated, names)},
              {"steps", steps},
              {"forward_passes", new_tokens},
              {"kv_cache_bytes", rows * kv_cache_row_bytes(c)}};
  return out;
}

// The check: h_t from the cached steps against h_t from one parallel pass. The reference is the
// training pass when the processed tokens are a prefix of the training sequence, else a
// teacher-forced parallel pass over the processed tokens themselves.
nlohmann::json h_check(const Model& g, Workspace& ws, const std::vector<int>& train_tokens,
                       const std::vector<float>& h_train, const std::vector<int>& prompt, const Inference& inf) {
  const int C = g.config().n_embd, L = g.config().n_layer, T = int(train_tokens.size());
  std::vector<int> processed_all(prompt);
  processed_all.insert(processed_all.end(), inf.generated.begin(), inf.generated.end() - 1);
  const bool prefix =
      int(processed_all.size()) <= T && std::equal(processed_all.begin(), processed_all.end(), train_tokens.begin());
  std::vector<float> h_ref = h_train;
  if (!prefix) {
    g.forward(ws, processed_all.data(), 1, int(processed_all.size()));
    h_ref.assign(ws.hidden(L), ws.hidden(L) + processed_all.size() * C);
  }
  std::vector<float> h_inf;  // (T', C): the processed positions, in order
  for (const auto& h : inf.h) h_inf.insert(h_inf.end(), h.begin(), h.end());
  nlohmann::json j = to_json(compare_hidden(h_inf, std::span(h_ref).first(h_inf.size()), C));
  j["reference"] = prefix ? "training pass" : "parallel pass over the processed tokens";
  return j;
}

// The cost: what the cache saves (positions, causal attention scores, FLOPs), against one
// training pass over T tokens.
nlohmann::json cost_comparison(const Config& c, int P, int new_tokens, int T) {
  const int L = c.n_layer, NH = c.n_head;
  std::vector<long> cached, uncached;
  long sc_cached = 0, sc_uncached = 0;
  double fl_cached = 0, fl_uncached = 0;
  for (int k = 0; k < new_tokens; ++k) {
    const long ctx = P + k;  // context length when token k+1 is chosen
    uncached.push_back(ctx);
    cached.push_back(k == 0 ? P : 1);
    sc_uncached += ctx * (ctx + 1) / 2;
    for (long t = 1; t <= ctx; ++t) fl_uncached += flops_per_position(c, t);
    if (k == 0) {
      sc_cached += long(P) * (P + 1) / 2;
      for (long t = 1; t <= P; ++t) fl_cached += flops_per_position(c, t);
    } else {
      sc_cached += ctx;
      fl_cached += flops_per_position(c, ctx);
    }
  }
  auto sum = [](const std::vector<long>& v) {
    long s = 0;
    for (long x : v) s += x;
    return s;
  };
  return {
      {"forward_passes", {{"training", 1}, {"inference", new_tokens}}},
      {"positions_processed",
       {{"cached", cached}, {"uncached", uncached}, {"cached_total", sum(cached)}, {"uncached_total", sum(uncached)}}},
      {"attention_scores", {{"cached", sc_cached * L * NH}, {"uncached", sc_uncached * L * NH}}},
      {"flops", {{"cached", fl_cached}, {"uncached", fl_uncached}, {"training_pass", [&] {
                                                                      double f = 0;
                                                                      for (long t = 1; t <= T; ++t)
                                                                        f += flops_per_position(c, t);
                                                                      return f;
                                                                    }()}}}};
}

// The shared core of both walkthroughs. `names` maps ids to display strings.
nlohmann::json walkthrough(const Model& g, const std::vector<int>& train_tokens, const std::vector<int>& prompt,
                           int new_tokens, const GenerateOptions& gen_opts, const Names& names,
                           const CacheHook& after_step = {}) {
  const Config& c = g.config();
  if (int(prompt.size()) + new_tokens > c.n_positions)
    throw UsageError("prompt + --new exceeds the model's n_positions");
  std::vector<float> h_train;
  Workspace ws;
  nlohmann::json j;
  j["training"] = training_pass(g, ws, train_tokens, names, h_train);
  const Inference inf = inference_steps(g, ws, prompt, new_tokens, gen_opts, names, after_step);
  j["inference"] = inf.json;
  j["check"] = h_check(g, ws, train_tokens, h_train, prompt, inf);
  j["comparison"] = cost_comparison(c, int(prompt.size()), new_tokens, int(train_tokens.size()));
  j["model"] = {{"n_layer", c.n_layer},       {"n_head", c.n_head},           {"n_embd", c.n_embd},
                {"vocab_size", c.vocab_size}, {"n_positions", c.n_positions}, {"parameters", g.params().size()}};
  if (c.llama()) {  // GPT-2's walkthrough stays as it was: these keys only for the Llama family
    j["model"]["arch"] = "llama";
    j["model"]["model_type"] = c.model_type;
    j["model"]["n_kv_head"] = c.kv_heads();
    j["model"]["head_dim"] = c.head_size();
    // The page's live FLOP counter: fixed + per_context_position · t (Llama's matrices differ
    // from GPT-2's 12C², so the page cannot use its GPT-2 formula).
    j["model"]["flops_per_position"] = {{"fixed", flops_per_position(c, 0)},
                                        {"per_context_position", flops_per_position(c, 1) - flops_per_position(c, 0)}};
    j["rope"] = rope_view(c, int(train_tokens.size()));
    j["gqa"] = gqa_view(c);
  }
  return j;
}

// Teacher-forced vs free-running on a real model: the ground truth is the user's continuation
// of the prompt, tokenized as it would be after the prompt (BPE merges across the boundary, so
// prompt + truth is encoded together when that keeps the prompt's tokens, else truth alone).
nlohmann::json free_running_vs_truth(const Tokenizer& tok, const std::vector<int>& prompt_ids,
                                     const std::string& prompt, const std::string& truth,
                                     const nlohmann::json& inference, const Names& names) {
  std::vector<int> truth_ids;
  if (!truth.empty()) {
    const auto full = tok.encode(prompt + truth);
    if (full.size() > prompt_ids.size() && std::equal(prompt_ids.begin(), prompt_ids.end(), full.begin()))
      truth_ids.assign(full.begin() + long(prompt_ids.size()), full.end());
    else
      truth_ids = tok.encode(truth);
  }
  nlohmann::json out = nlohmann::json::array();
  const auto& steps = inference["steps"];
  for (size_t k = 0; k < steps.size(); ++k) {
    const int gen_id = steps[k]["picked_id"];
    const bool have = k < truth_ids.size();
    out.push_back({{"position", prompt_ids.size() + k + 1},
                   {"ground_truth", have ? names(truth_ids[k]) : ""},
                   {"generated", steps[k]["picked"]},
                   {"matches", have && truth_ids[k] == gen_id}});
  }
  return out;
}

}  // namespace

WordTokenizer::WordTokenizer(std::vector<std::string> vocab) : vocab_(std::move(vocab)) {
  for (const auto& w : vocab_) bytes_.push_back(" " + w);
}

std::vector<int> WordTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  for (const auto& w : split_words(std::string(text))) {
    auto it = std::find(vocab_.begin(), vocab_.end(), w);
    if (it == vocab_.end()) throw UsageError("word '" + w + "' is not in the toy's vocabulary (the sentence's words)");
    ids.push_back(int(it - vocab_.begin()));
  }
  return ids;
}

std::vector<int> toy_encode(const Toy& toy, const std::string& text) { return WordTokenizer(toy.vocab).encode(text); }

Toy build_toy(const ToyOptions& o) {
  Toy toy;
  const auto words = split_words(o.sentence);
  if (words.size() < 2) throw UsageError("--sentence needs at least two words");
  if (int(words.size()) > kToyPositions) throw UsageError("--sentence has more than 32 words");
  for (const auto& w : words)
    if (std::find(toy.vocab.begin(), toy.vocab.end(), w) == toy.vocab.end()) toy.vocab.push_back(w);
  for (const auto& w : words)
    toy.sentence.push_back(int(std::find(toy.vocab.begin(), toy.vocab.end(), w) - toy.vocab.begin()));
  Config c{
      .vocab_size = int(toy.vocab.size()), .n_positions = kToyPositions, .n_embd = kToyD, .n_layer = 1, .n_head = 1};
  c.tie_word_embeddings = false;  // untied: the fixed embeddings do not limit the predictions
  toy.model = std::make_unique<Model>(c);
  Model& g = *toy.model;
  init_params(c, g.mutable_params().data(), o.seed);
  // Token embeddings: the page's table for its words, N(0, 0.5) from the seed for others.
  Rng rng(o.seed * 7919 + 1);
  float* wte = g.mutable_params().data() + g.table()[0].offset;
  for (size_t v = 0; v < toy.vocab.size(); ++v) {
    auto it = std::find_if(kExampleEmbeddings.begin(), kExampleEmbeddings.end(),
                           [&](auto& e) { return e.first == toy.vocab[v]; });
    for (int i = 0; i < kToyD; ++i)
      wte[v * kToyD + i] = it != kExampleEmbeddings.end() ? it->second[i] : 0.5f * rng.normal();
  }
  // Training mode: teacher forcing on the sentence, all positions in one pass; wte frozen.
  Optimizer opt(g.table(),
                {.kind = OptimizerKind::kAdamW, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.0});
  opt.frozen = {"wte.weight"};
  const int T = int(toy.sentence.size()) - 1;
  Workspace ws;
  std::vector<float> grads(g.params().size());
  for (int s = 0; s < o.train_steps; ++s) {
    std::fill(grads.begin(), grads.end(), 0.0f);
    const double loss =
        g.forward_backward(ws, grads.data(), toy.sentence.data(), toy.sentence.data() + 1, 1, T, 1.0f / T);
    opt.step(g.mutable_params().data(), grads.data(), 0.05);
    toy.loss_curve.push_back(loss);
    if (o.on_train_step) o.on_train_step(s + 1, loss);
  }
  return toy;
}

nlohmann::json explain_toy(const ToyOptions& o) {
  Toy toy = build_toy(o);
  const std::vector<int> prompt = toy_encode(toy, o.prompt);
  if (prompt.empty()) throw UsageError("--prompt is empty");
  if (o.new_tokens < 1 || int(prompt.size()) + o.new_tokens > kToyPositions)
    throw UsageError("--new must be in [1, " + std::to_string(kToyPositions - int(prompt.size())) + "]");
  auto names = [&](int id) { return toy.vocab[id]; };
  nlohmann::json j = walkthrough(*toy.model, toy.sentence, prompt, o.new_tokens, o.gen, names);
  j["kind"] = "toy";
  j["sentence"] = o.sentence;
  j["vocab"] = toy.vocab;
  j["d"] = kToyD;
  const Model& g = *toy.model;
  j["embeddings"] = {{"token", rows(g.params().data() + g.table()[0].offset, int(toy.vocab.size()), kToyD)},
                     {"position", rows(g.params().data() + g.table()[1].offset, int(toy.sentence.size()), kToyD)},
                     {"frozen", "token embeddings are fixed to the table and not trained"}};
  j["training"]["steps"] = o.train_steps;
  j["training"]["loss_curve"] = toy.loss_curve;
  // Where free-running generation leaves the ground truth (the sentence after the prompt).
  nlohmann::json tf_vs_free = nlohmann::json::array();
  const auto& gen = j["inference"]["generated"];
  for (size_t k = 0; k < gen.size(); ++k) {
    const size_t pos = prompt.size() + k;
    const std::string truth = pos < toy.sentence.size() ? toy.vocab[toy.sentence[pos]] : "";
    tf_vs_free.push_back({{"position", pos + 1},
                          {"ground_truth", truth},
                          {"generated", gen[k]},
                          {"matches", truth == gen[k].get<std::string>()}});
  }
  j["teacher_forced_vs_free_running"] = tf_vs_free;
  return j;
}

nlohmann::json explain_model(const Model& model, const Tokenizer& tok, const std::string& prompt, int new_tokens,
                             const GenerateOptions& gen, const ModelWalkOptions& walk) {
  const std::vector<int> ids = tok.encode(prompt);
  if (ids.empty()) throw UsageError("--prompt is empty");
  // The teacher-forced sequence is the prompt plus the greedy continuation, so that the check
  // compares the same tokens in both modes.
  GenerateOptions g = gen;
  g.max_new = new_tokens;
  if (auto* s = std::get_if<SampleSearch>(&g.search)) s->num_return = 1;
  if (auto* b = std::get_if<BeamSearch>(&g.search)) b->num_return = 1;
  const auto r = generate(model, &tok, ids, g);
  std::vector<int> seq = ids;
  seq.insert(seq.end(), r.sequences[0].tokens.begin(), r.sequences[0].tokens.end());
  // Every token drawn visibly (spaces, newlines, byte pieces); the raw bytes of each shown
  // token go to "token_text" for the page's tooltips.
  nlohmann::json token_text = nlohmann::json::object();
  auto names = [&](int id) {
    const std::string shown = token_display(tok.token_bytes(id));
    token_text[shown] = token_raw_text(tok.token_bytes(id));
    return shown;
  };
  nlohmann::json j = walkthrough(model, seq, ids, new_tokens, gen, names, walk.after_step);
  j["kind"] = "model";
  j["prompt"] = prompt;
  j["teacher_forced_vs_free_running"] = free_running_vs_truth(tok, ids, prompt, walk.truth, j["inference"], names);
  j["truth"] = {{"text", walk.truth}, {"source", walk.truth.empty() ? "none" : walk.truth_source}};
  j["token_text"] = token_text;
  return j;
}

}  // namespace tf
