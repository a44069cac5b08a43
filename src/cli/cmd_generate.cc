// tformer generate: inference mode (autoregressive, KV-cached) with greedy, sampling or beam.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "generate/generator.h"
#include "model/model_dir.h"

namespace tf::cli {

void add_generate(CLI::App& app) {
  struct Opts {
    std::string model, prompt, tokens, dtype = "f32";
    GenerateSettings gen;
    bool json = false, stream = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("generate", "Generate in inference mode: one token at a time, KV-cached");
  sub->add_option("--model", o->model, "model directory or .gguf file")->required();
  sub->add_option("--prompt", o->prompt, "prompt text (needs the directory's tokenizer)");
  sub->add_option("--tokens", o->tokens, "prompt token ids, e.g. 1,2,3");
  add_generate_flags(sub, o->gen);
  sub->add_option("--dtype", o->dtype,
                  "weights for decoding: f32 | bf16 (rounded, half the bytes to stream) | q8_0 (int8 blocks "
                  "of 32 with a scale, 3.8x fewer bytes); a Q8_0 .gguf decodes with its own blocks unless "
                  "--dtype is given")
      ->check(CLI::IsMember({"f32", "bf16", "q8_0"}))
      ->capture_default_str();
  sub->add_flag("--json", o->json, "print sequences and stats as JSON");
  sub->add_flag("--stream", o->stream, "print text as it is produced");
  sub->add_option("--threads", o->threads, "threads (0 = all cores)")->capture_default_str();
  sub->callback([o, sub] {
    set_threads(o->threads);
    GenerateOptions g = generate_options(sub, o->gen);
    if (!sub->count("--prompt") && o->tokens.empty()) throw UsageError("generate: give --prompt or --tokens");
    LoadedModel m = load_model_dir(o->model);
    if (sub->count("--dtype")) m.model->drop_weight_copies();  // the flag over a Q8_0 file's blocks
    if (o->dtype == "bf16") m.model->use_bf16_weights();
    if (o->dtype == "q8_0") m.model->use_q8_0_weights();
    // End of sequence unless --eos says otherwise: config.json's eos_token_id (the first of a
    // list), else the tokenizer's (GPT-2's <|endoftext|> is 50256).
    if (!sub->count("--eos")) {
      const int V = m.model->config().vocab_size;
      const auto& ids = m.model->config().eos_token_ids;
      if (!ids.empty() && ids[0] < V)
        g.eos = ids[0];
      else if (m.tokenizer && m.tokenizer->eos_id() >= 0 && m.tokenizer->eos_id() < V)
        g.eos = m.tokenizer->eos_id();
    }
    const std::vector<int> ids = prompt_tokens(m, o->prompt, o->tokens);
    const bool stream =
        o->stream && !o->json && m.tokenizer && !std::holds_alternative<BeamSearch>(g.search) && g.num_return() == 1;
    std::string pending;  // bytes held back so that a UTF-8 character is never split
    OnToken on_token;
    if (stream) {
      std::fwrite(o->prompt.data(), 1, o->prompt.size(), stdout);
      std::fflush(stdout);
      on_token = [&](int, int tok, float) {
        pending += m.tokenizer->token_bytes(tok);
        const size_t n = utf8_complete_prefix(pending);
        std::fwrite(pending.data(), 1, n, stdout);
        std::fflush(stdout);
        pending.erase(0, n);
        return true;
      };
    }
    const GenerateResult r = generate(*m.model, m.tokenizer.get(), ids, g, {.on_token = on_token});
    const auto& s = r.stats;
    if (o->json) {
      nlohmann::json seqs = nlohmann::json::array();
      for (auto& q : r.sequences) {
        nlohmann::json j = {{"tokens", q.tokens},
                            {"logprob", q.logprob},
                            {"token_logprobs", q.logprobs},
                            {"score", q.score},
                            {"finish_reason", finish_reason_name(q.finish_reason)}};
        if (m.tokenizer) j["text"] = q.text;  // invalid UTF-8 is replaced when dumped
        seqs.push_back(j);
      }
      const double secs = s.prefill_s + s.decode_s;
      nlohmann::json out = {{"prompt_tokens", ids},
                            {"sequences", seqs},
                            {"stats",
                             {{"prefill_tokens", s.prompt_tokens},
                              {"new_tokens", s.new_tokens},
                              {"positions_processed", s.positions_processed},
                              {"forward_passes", s.forward_passes},
                              {"flops", s.flops},
                              {"kv_cache_bytes", s.kv_cache_bytes},
                              {"kv_cache", g.kv_cache},
                              {"seconds", secs},
                              {"prefill_seconds", s.prefill_s},
                              {"decode_seconds", s.decode_s},
                              {"tokens_per_second", secs > 0 ? s.new_tokens / secs : 0.0}}}};
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return;
    }
    if (stream) {
      std::fwrite(pending.data(), 1, pending.size(), stdout);
      std::printf("\n");
    } else {
      for (size_t i = 0; i < r.sequences.size(); ++i) {
        const auto& q = r.sequences[i];
        if (r.sequences.size() > 1)
          std::printf("--- %zu (score %.4f, %s)\n", i + 1, q.score, finish_reason_name(q.finish_reason));
        if (m.tokenizer) {
          std::fwrite(o->prompt.data(), 1, o->prompt.size(), stdout);
          std::fwrite(q.text.data(), 1, q.text.size(), stdout);
          std::printf("\n");
        } else {
          for (size_t k = 0; k < q.tokens.size(); ++k) std::printf("%s%d", k ? "," : "", q.tokens[k]);
          std::printf("\n");
        }
      }
    }
    std::fflush(stdout);
    const double dec = s.decode_s > 0 ? (s.new_tokens - int(r.sequences.size())) / s.decode_s : 0;
    std::fprintf(stderr, "[%d prompt tokens in %.3fs (%.0f tok/s); %d new tokens, decode %.1f tok/s; KV cache %s]\n",
                 s.prompt_tokens, s.prefill_s, s.prompt_tokens / std::max(1e-9, s.prefill_s), s.new_tokens, dec,
                 g.kv_cache ? (std::to_string(s.kv_cache_bytes / 1024) + " KiB").c_str() : "off");
  });
}

}  // namespace tf::cli
