// tformer explain: the training-vs-inference walkthrough in the terminal (or as JSON).
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "explain/explain.h"
#include "explain/run_history.h"
#include "explain/token_display.h"
#include "model/model_dir.h"

namespace tf::cli {

namespace {

std::string vec_str(const nlohmann::json& v, int prec = 3) {
  std::string s = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%*.*f", i ? ", " : "", prec + 3, prec, v[i].get<double>());
    s += buf;
  }
  return s + "]";
}

// Tokens arrive drawn visibly (token_display: ␣, ↵, <0xNN>), so they are valid UTF-8 and
// one column per code point; pad by columns, not bytes.
std::string label(const nlohmann::json& tok, size_t width) {
  std::string s = tok.get<std::string>();
  const size_t w = display_width(s);
  if (w < width) s += std::string(width - w, ' ');
  return s;
}

// A Llama-family model's two extra views: the rotary angles (a few pairs of the first
// positions: the page draws them all) and which query heads share a K/V head.
void print_llama_views(const nlohmann::json& j) {
  const auto& r = j["rope"];
  const auto& ang = r["angles"];
  const size_t pairs = r["pairs"].get<size_t>(), shown = std::min<size_t>(pairs, 6);
  std::printf("\nRotary positions: before attention, q and k of every layer and head turn each pair (i, i+%d)\n",
              r["pairs"].get<int>());
  std::printf(
      "by angle t * inv_freq[i], t the position id from 0 (rope_theta %g, scaling %s); radians, pairs 0..%zu "
      "of %zu:\n",
      r["theta"].get<double>(), r["scaling"]["type"].get<std::string>().c_str(), shown - 1, pairs);
  const auto& toks = j["training"]["tokens"];
  std::printf("  %-14s", "inv_freq");
  for (size_t i = 0; i < shown; ++i) std::printf(" %9.4g", r["inv_freq"][i].get<double>());
  std::printf("\n");
  for (size_t t = 0; t < ang.size() && t < 8; ++t) {
    std::printf("  t=%-3zu %s", t, label(toks[t], 8).c_str());
    for (size_t i = 0; i < shown; ++i) std::printf(" %9.4f", ang[t][i].get<double>());
    std::printf("\n");
  }
  const auto& g = j["gqa"];
  std::printf("\nGrouped-query attention: %s.\n", g["summary"].get<std::string>().c_str());
  std::printf("  The KV cache stores %zu bytes per position (one K/V per query head would take %zu).\n",
              g["kv_cache_row_bytes"].get<size_t>(), g["kv_cache_row_bytes_mha"].get<size_t>());
}

void print_walkthrough(const nlohmann::json& j) {
  const auto& tr = j["training"];
  const auto& toks = tr["tokens"];
  const size_t T = toks.size();
  size_t w = 4;
  for (auto& t : toks) w = std::max(w, display_width(t.get<std::string>()) + 1);
  w = std::min<size_t>(w, 12);
  std::printf("== TRAINING MODE (teacher forcing): ALL -> ALL, one parallel pass\n");
  std::printf("Input sequence (%zu tokens), hidden size d = %d\n\n", T, j["model"]["n_embd"].get<int>());
  if (j.contains("embeddings")) {
    std::printf("Input embeddings (%zux%d, fixed to the table; position embeddings shown apart):\n", T,
                j["model"]["n_embd"].get<int>());
    const auto& vocab = j["vocab"];
    for (size_t t = 0; t < T; ++t) {
      const int id = tr["ids"][t];
      std::printf("  %s %s   + pos %s\n", label(vocab[id], w).c_str(), vec_str(j["embeddings"]["token"][id], 2).c_str(),
                  vec_str(j["embeddings"]["position"][t], 2).c_str());
    }
    std::printf("\n");
  }
  if (T <= 16) {
    std::printf("Causal mask (1 = may attend):\n");
    for (size_t t = 0; t < T; ++t) {
      std::printf("  %s", label(toks[t], w).c_str());
      for (size_t s = 0; s < T; ++s) std::printf(" %d", tr["mask"][t][s].get<int>());
      std::printf("\n");
    }
    const auto& att = tr["attention"];
    for (size_t l = 0; l < att.size(); ++l)
      for (size_t h = 0; h < att[l].size() && h < 4; ++h) {
        // A Llama model's heads are numbered from 0, as in its grouping (query head h reads K/V
        // head h / (NH/NKV)); GPT-2's keep their 1-based names.
        std::string head = "head " + std::to_string(h + 1);
        if (j.contains("gqa"))
          head = "query head " + std::to_string(h) + " (reads K/V head " +
                 std::to_string(j["gqa"]["kv_head_of"][h].get<int>()) + ")";
        std::printf(
            "\nAttention weights, layer %zu %s (rows: query position; zeros above the diagonal, rows sum to "
            "1):\n",
            l + 1, head.c_str());
        for (size_t t = 0; t < T; ++t) {
          std::printf("  %s", label(toks[t], w).c_str());
          for (size_t s = 0; s < T; ++s) std::printf(" %.2f", att[l][h][t][s].get<double>());
          std::printf("\n");
        }
      }
  }
  if (j.contains("rope")) print_llama_views(j);
  std::printf("\nOutput hidden states (output of the last block):\n");
  for (size_t t = 0; t < T && t < 16; ++t) {
    const auto& h = tr["hidden"][t];
    nlohmann::json head = nlohmann::json::array();
    for (size_t i = 0; i < h.size() && i < 6; ++i) head.push_back(h[i]);
    std::printf("  h%-2zu %s%s  <- attends to positions 1..%zu\n", t + 1, vec_str(head).c_str(),
                h.size() > 6 ? " ..." : "", t + 1);
  }
  std::printf("  all %zu hidden states from ONE forward pass; training loss %.4f (mean over %zu predicted positions", T,
              tr["loss"].get<double>(), T - 1);
  if (tr.contains("steps")) std::printf(", after %d training steps", tr["steps"].get<int>());
  std::printf(")\n");
  if (tr.contains("run_loss") && tr["run_loss"].is_object()) {
    const auto& r = tr["run_loss"];
    std::printf("  the run's own training loss (%s): step %ld %.4f -> step %ld %.4f\n",
                r["source"].get<std::string>().c_str(), r["step"].front().get<long>(), r["loss"].front().get<double>(),
                r["step"].back().get<long>(), r["loss"].back().get<double>());
  }

  const auto& inf = j["inference"];
  std::printf("\n== INFERENCE MODE (autoregressive): ONE -> ONE, KV-cached\n");
  for (const auto& st : inf["steps"]) {
    std::string proc, ctx;
    for (auto& p : st["processed"]) proc += (proc.empty() ? "" : ", ") + p.get<std::string>();
    std::printf("Step %d: process [%s] (positions", st["step"].get<int>(), proc.c_str());
    for (auto& p : st["positions"]) std::printf(" %d", p.get<int>());
    std::printf("); KV cache adds rows");
    for (auto& p : st["cache_rows_added"]) std::printf(" %d", p.get<int>());
    std::printf(", reads rows 1..%zu\n", st["cache_rows_read"].size());
    nlohmann::json head = nlohmann::json::array();
    for (size_t i = 0; i < st["h"].size() && i < 6; ++i) head.push_back(st["h"][i]);
    std::printf("  h%zu = %s%s\n  top:", st["cache_rows_read"].size(), vec_str(head).c_str(),
                st["h"].size() > 6 ? " ..." : "");
    for (auto& c : st["top"]) std::printf("  %s %.3f", c["token"].get<std::string>().c_str(), c["prob"].get<double>());
    std::printf("\n  -> picked \"%s\"\n", st["picked"].get<std::string>().c_str());
  }
  std::string gen;
  for (auto& g : inf["generated"]) gen += (gen.empty() ? "" : " ") + g.get<std::string>();
  std::printf("Generated: %s\n", gen.c_str());
  if (j["kind"] == "model") {
    const auto& tf = j["teacher_forced_vs_free_running"];
    if (j["truth"]["source"] == "none") {
      std::printf("Teacher-forced vs free-running: no ground truth (give --truth TEXT, the continuation you expect)\n");
    } else {
      std::printf("Teacher-forced vs free-running (ground truth: %s):\n",
                  j["truth"]["source"] == "given" ? "--truth" : "what follows the prompt in the run's validation text");
      for (const auto& x : tf)
        std::printf(
            "  position %d: truth %s generated %s%s\n", x["position"].get<int>(),
            label(x["ground_truth"].get<std::string>().empty() ? nlohmann::json("-") : x["ground_truth"], 8).c_str(),
            x["generated"].get<std::string>().c_str(), x["matches"].get<bool>() ? "" : "  <- leaves the ground truth");
    }
  }

  const auto& ck = j["check"];
  std::printf("\n== THE CHECK: h_t from the cached steps vs h_t from the parallel pass (%s)\n",
              ck["reference"].get<std::string>().c_str());
  for (auto& d : ck["per_position"])
    std::printf("  t=%d  max|diff| = %.2e\n", d["t"].get<int>(), d["max_abs_diff"].get<double>());
  std::printf("  %s\n  (rule: %s)\n", ck["summary"].get<std::string>().c_str(), ck["rule"].get<std::string>().c_str());

  const auto& cmp = j["comparison"];
  auto list = [](const nlohmann::json& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : "+") + std::to_string(x.get<long>());
    return s;
  };
  std::printf("\n== COMPUTATION\n");
  std::printf("  forward passes:          training 1, inference %d\n", cmp["forward_passes"]["inference"].get<int>());
  std::printf(
      "  positions processed:     without KV cache %s = %ld, with KV cache %s = %ld\n",
      list(cmp["positions_processed"]["uncached"]).c_str(), cmp["positions_processed"]["uncached_total"].get<long>(),
      list(cmp["positions_processed"]["cached"]).c_str(), cmp["positions_processed"]["cached_total"].get<long>());
  std::printf("  attention scores:        without %ld, with %ld\n", cmp["attention_scores"]["uncached"].get<long>(),
              cmp["attention_scores"]["cached"].get<long>());
  std::printf("  FLOPs:                   without %.0f, with %.0f (%.2fx); the training pass over %zu tokens: %.0f\n",
              cmp["flops"]["uncached"].get<double>(), cmp["flops"]["cached"].get<double>(),
              cmp["flops"]["uncached"].get<double>() / cmp["flops"]["cached"].get<double>(), T,
              cmp["flops"]["training_pass"].get<double>());
}

}  // namespace

void add_explain(CLI::App& app) {
  struct Opts {
    ToyOptions toy;
    GenerateSettings gen;
    std::string model, truth;
    bool json = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("explain", "Training vs inference, step by step, with computed numbers");
  sub->add_flag("--json", o->json, "print the walkthrough as JSON");
  sub->add_option("--sentence", o->toy.sentence, "the toy's training sentence (its words are the vocabulary)")
      ->capture_default_str();
  sub->add_option("--prompt", o->toy.prompt, "inference prompt")->capture_default_str();
  sub->add_option("--new", o->toy.new_tokens, "tokens to generate")->capture_default_str();
  sub->add_option("--steps", o->toy.train_steps, "toy training steps")->capture_default_str();
  sub->add_option("--model", o->model, "walk through a real model directory instead of the toy");
  sub->add_option("--truth", o->truth,
                  "with --model: the ground-truth continuation of the prompt (default: what follows the prompt "
                  "in the run's validation text, when it occurs there)");
  add_generate_flags(sub, o->gen, {"strategy", "temperature", "top_k", "top_p", "min_p", "seed"});
  sub->add_option("--threads", o->threads, "threads (0 = all cores)")->capture_default_str();
  sub->callback([o, sub] {
    set_threads(o->threads);
    o->toy.gen = generate_options(sub, o->gen);
    if (std::holds_alternative<BeamSearch>(o->toy.gen.search))
      throw UsageError("--strategy must be greedy or sample: explain walks one sequence");
    if (o->toy.train_steps < 0 || o->toy.train_steps > 100000) throw UsageError("--steps must be in [0, 100000]");
    if (!o->truth.empty() && o->model.empty())
      throw UsageError("--truth needs --model (the toy's ground truth is its own sentence)");
    nlohmann::json j;
    if (!o->model.empty()) {
      LoadedModel m = load_model_dir(o->model);
      if (!m.tokenizer) throw Error(o->model + ": explain --model needs a model directory with a tokenizer");
      ModelWalkOptions walk{.truth = o->truth, .truth_source = "given"};
      if (walk.truth.empty()) {
        walk.truth = continuation_in(validation_text(o->model), o->toy.prompt, 256);
        walk.truth_source = "validation text";
      }
      j = explain_model(*m.model, *m.tokenizer, o->toy.prompt, o->toy.new_tokens, o->toy.gen, walk);
      j["training"]["run_loss"] = run_loss_curve(o->model);
    } else {
      j = explain_toy(o->toy);
    }
    if (o->json)
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    else
      print_walkthrough(j);
  });
}

}  // namespace tf::cli
