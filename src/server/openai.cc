// The OpenAI-compatible routes: /v1/models, /v1/completions and /v1/chat/completions, as the
// openai clients call them (https://platform.openai.com/docs/api-reference). Log-probabilities
// are of the model's own distribution (the raw logits, before temperature and penalties), read
// from the decode loop's on_pass hook; streams hold back text that may still become a stop
// string, so a stream's text always equals the same request's text unstreamed.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>

#include "server/http.h"

namespace tf {

namespace {

const char* openai_finish_reason(FinishReason r) {
  return r == FinishReason::kEos || r == FinishReason::kStop ? "stop" : finish_reason_name(r);
}

std::string sse(const json& e) { return "data: " + e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

// One generated token as the API reports it.
struct TokenInfo {
  int token;
  float logprob;                           // raw distribution
  std::vector<std::pair<int, float>> top;  // the k most likely, best first
};

// What a route asked for, beyond the generation options.
struct Ask {
  int top_logprobs = -1;  // -1: no logprobs; else the k most likely at each step
  bool echo = false;
};

// One prompt's generation with per-token details and, for a stream, its text as it becomes final.
struct Run {
  GenerateResult result;
  std::vector<std::vector<TokenInfo>> tokens;  // per sequence
};
// on_text(seq, text) receives each piece of final text; returning false stops that sequence.
using OnText = std::function<bool(int seq, const std::string& text, const TokenInfo* info)>;

// How much of `text` is final: complete UTF-8, before any stop string and before a tail that may
// still grow into one.
size_t final_prefix(const std::string& text, const std::vector<std::string>& stop) {
  size_t n = utf8_complete_prefix(text);
  const size_t cut = find_stop(text, stop);
  if (cut != std::string::npos) return std::min(n, cut);
  for (const auto& s : stop)
    for (size_t k = std::min(s.size() - 1, text.size()); k > 0; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        n = std::min(n, text.size() - k);
        break;
      }
  return n;
}

// The prompts' generations by the batcher, as one job whose sequences join the batch together,
// their tokens taken as they come (this thread may read slowly: the batch does not wait for it).
// Sequence i of prompt p is on_text's p * n + i. A sequence whose on_text returns false (its
// client hung up) is stopped, and all of them once gone() says the client has hung up: the
// batcher ends them at its next step.
std::vector<Run> run_prompts(const Served& m, const std::vector<std::vector<int>>& prompts, const GenerateOptions& g,
                             const Ask& ask, const OnText& on_text, const std::function<bool()>& gone) {
  const int n = g.num_return();
  const size_t S = prompts.size() * size_t(n);
  std::vector<Run> runs(prompts.size());
  for (Run& r : runs) r.tokens.resize(n);
  std::vector<std::vector<int>> generated(S);
  std::vector<size_t> sent(S, 0);
  const std::shared_ptr<Job> job = m.batcher->submit(prompts, g, ask.top_logprobs, on_text != nullptr, gone);
  // Leaving early (a token this thread cannot decode) stops the generation too.
  struct StopOnExit {
    Job& job;
    ~StopOnExit() { job.stop(-1); }
  } stop_on_exit{*job};
  std::vector<Job::Token> batch;
  while (job->next(batch))
    for (const Job::Token& t : batch) {
      std::vector<TokenInfo>& toks = runs[t.seq / n].tokens[t.seq % n];
      toks.push_back({t.token, t.logprob, t.top});
      if (!on_text) continue;
      generated[t.seq].push_back(t.token);
      const std::string text = m.tok->decode(generated[t.seq]);
      const size_t cut = final_prefix(text, g.stop);
      std::string piece;
      if (cut > sent[t.seq]) {
        piece = text.substr(sent[t.seq], cut - sent[t.seq]);
        sent[t.seq] = cut;
      }
      if (!on_text(t.seq, piece, &toks.back())) job->stop(t.seq);
    }
  std::vector<GenerateResult> results = job->results();
  for (size_t p = 0; p < prompts.size(); ++p) {
    runs[p].result = std::move(results[p]);
    if (on_text)
      for (int i = 0; i < n; ++i) {
        const std::string& text = runs[p].result.sequences[i].text;
        const size_t k = p * n + i;
        on_text(int(k), sent[k] < text.size() ? text.substr(sent[k]) : "", nullptr);
      }
    request_log().tokens += long(prompts[p].size()) + runs[p].result.stats.new_tokens;
  }
  return runs;
}

// The log-probs of the prompt's tokens (the first has none): one parallel pass.
std::vector<TokenInfo> prompt_logprobs(const Served& m, std::span<const int> ids, int K) {
  const int V = m.model->config().vocab_size, P = int(ids.size());
  Workspace ws;
  m.model->forward(ws, ids.data(), 1, P);
  const float* logits = m.model->head_all(ws);
  std::vector<TokenInfo> out;
  std::vector<float> lp(V);
  for (int t = 1; t < P; ++t) {
    std::copy(logits + size_t(t - 1) * V, logits + size_t(t) * V, lp.begin());
    log_softmax(std::span<float>(lp), std::span<float>(lp));
    TokenInfo info{ids[t], lp[ids[t]], {}};
    std::vector<int> idx(V);
    for (int v = 0; v < V; ++v) idx[v] = v;
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [&](int a, int b) { return lp[a] > lp[b]; });
    for (int i = 0; i < K; ++i) info.top.push_back({idx[i], lp[idx[i]]});
    out.push_back(std::move(info));
  }
  return out;
}

// ---- reading a request

// The prompts of a completion: a string, an array of strings, an array of token ids or an
// array of such arrays.
std::vector<std::vector<int>> read_prompts(const json& j, const Served& m, const ServerOptions& so) {
  if (!j.contains("prompt")) throw BadRequest("prompt is required");
  const json& p = j["prompt"];
  const int V = m.model->config().vocab_size;
  auto ids_of = [&](const json& a) {
    std::vector<int> ids;
    for (const auto& t : a) {
      if (!t.is_number_integer() || t.get<long>() < 0 || t.get<long>() >= V)
        throw BadRequest("prompt token " + t.dump() + " is not an id in [0, " + std::to_string(V) + ")");
      ids.push_back(t.get<int>());
    }
    return ids;
  };
  auto text = [&](const json& s) {
    if (s.get<std::string>().size() > so.max_body_bytes) throw BadRequest("prompt is too long");
    return m.tok->encode_with_specials(s.get<std::string>());
  };
  std::vector<std::vector<int>> out;
  if (p.is_string()) {
    out.push_back(text(p));
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    out.push_back(ids_of(p));
  } else if (p.is_array() && !p.empty() && p.size() <= size_t(so.max_return)) {
    for (const auto& e : p) {
      if (e.is_string())
        out.push_back(text(e));
      else if (e.is_array())
        out.push_back(ids_of(e));
      else
        throw BadRequest("prompt must be a string, an array of strings, of token ids or of arrays of token ids");
    }
  } else {
    throw BadRequest("prompt must be a string, an array of strings, of token ids or of arrays of token ids (at most " +
                     std::to_string(so.max_return) + ")");
  }
  for (const auto& ids : out)
    if (ids.empty()) throw BadRequest("prompt is empty");
  return out;
}

std::vector<std::string> read_stop(const json& j) {
  std::vector<std::string> stop;
  if (!j.contains("stop") || j["stop"].is_null()) return stop;
  if (j["stop"].is_string() && !j["stop"].get<std::string>().empty()) return {j["stop"].get<std::string>()};
  if (j["stop"].is_array() && j["stop"].size() <= 4) {
    for (auto& s : j["stop"]) {
      if (!s.is_string() || s.get<std::string>().empty()) throw BadRequest("stop must hold non-empty strings");
      stop.push_back(s);
    }
    return stop;
  }
  throw BadRequest("stop must be a non-empty string or an array of at most 4 of them");
}

// The generation options of an OpenAI request: temperature 0 is greedy.
GenerateOptions read_options(const json& j, const Served& m, const ServerOptions& so) {
  GenerateSettings gs = generate_settings(j, so, kOpenAiNames, 16);
  if (j.contains("max_completion_tokens"))
    gs.max_new = field<int>(j, "max_completion_tokens", 16, 1, so.max_new_tokens);
  gs.strategy = gs.filters.temperature == 0 ? "greedy" : "sample";
  if (gs.num_return > 1 && gs.strategy == "greedy") throw BadRequest("n > 1 needs temperature > 0");
  if (gs.eos < 0) gs.eos = m.tok->eos_id();
  GenerateOptions g = to_options(gs, [](const std::string&) { return false; });
  g.stop = read_stop(j);
  validate(g, m.model->config().vocab_size, true);
  return g;
}

void check_length(const Served& m, size_t prompt_tokens, const GenerateOptions& g) {
  if (int(prompt_tokens) + g.max_new > m.model->config().n_positions)
    throw BadRequest("prompt (" + std::to_string(prompt_tokens) + " tokens) + max_tokens (" +
                     std::to_string(g.max_new) + ") exceeds the model's n_positions " +
                     std::to_string(m.model->config().n_positions));
}

// The fields every OpenAI route takes, besides its own.
std::set<std::string> openai_fields(std::initializer_list<const char*> own) {
  std::set<std::string> s = generate_field_names(kOpenAiNames);
  for (const char* f : {"strategy", "beams", "length_penalty", "early_stopping"}) s.erase(f);
  for (const char* f : {"model", "stream", "stream_options", "stop", "user", "logprobs"}) s.insert(f);
  s.insert(own.begin(), own.end());
  return s;
}

std::string new_id(const char* prefix) {
  static std::atomic<long> counter{0};
  return prefix + std::to_string(++counter);
}

json usage_json(long prompt, long completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

// A stream's events through the sink; false once the client has gone.
struct Events {
  httplib::DataSink& sink;
  bool open = true;
  bool send(const std::string& s) { return open = open && sink.write(s.data(), s.size()); }
  bool send(const json& e) { return send(sse(e)); }
  void end() {
    send(std::string("data: [DONE]\n\n"));
    sink.done();
  }
};

std::shared_ptr<Admission::Ticket> admit(const Served& m) {
  auto ticket = m.admission->try_enter();
  if (!ticket)
    throw Overloaded("the server is busy: its " + std::to_string(m.admission->max_admitted()) +
                     " places (serve --max-running + --max-queue) are taken; retry shortly");
  return ticket;
}

// ---- /v1/completions

json completion_logprobs(const Served& m, const std::vector<TokenInfo>& infos, size_t offset, bool first_is_prompt) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (size_t i = 0; i < infos.size(); ++i) {
    const std::string& piece = m.tok->token_bytes(infos[i].token);
    toks.push_back(piece);
    const bool none = first_is_prompt && i == 0;
    lps.push_back(none ? json(nullptr) : json(infos[i].logprob));
    json top = json::object();
    for (const auto& [t, lp] : infos[i].top) top[m.tok->token_bytes(t)] = lp;
    tops.push_back(none ? json(nullptr) : top);
    offs.push_back(offset);
    offset += piece.size();
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

void completions(const httplib::Request& req, const json& j, Served& m, const ServerOptions& so,
                 httplib::Response& res) {
  check_fields(j, openai_fields({"prompt", "echo"}));
  const std::vector<std::vector<int>> prompts = read_prompts(j, m, so);
  const GenerateOptions g = read_options(j, m, so);
  Ask ask;
  ask.top_logprobs = j.contains("logprobs") && !j["logprobs"].is_null() ? field<int>(j, "logprobs", 0, 0, 5) : -1;
  ask.echo = field<bool>(j, "echo", false, 0, 0);
  const bool stream = field<bool>(j, "stream", false, 0, 0);
  const bool stream_usage = stream && j.contains("stream_options") && j["stream_options"].is_object() &&
                            j["stream_options"].value("include_usage", false);
  for (const auto& ids : prompts) check_length(m, ids.size(), g);
  const std::string id = new_id("cmpl-");
  const long created = long(std::time(nullptr));
  auto ticket = admit(m);
  const int n = g.num_return();
  auto chunk = [&m, id, created](int index, const std::string& text, const json& lp, const json& finish) {
    return json{{"id", id},
                {"object", "text_completion"},
                {"created", created},
                {"model", m.name},
                {"choices", {{{"text", text}, {"index", index}, {"logprobs", lp}, {"finish_reason", finish}}}}};
  };
  if (!stream) {
    json choices = json::array();
    long prompt_tokens = 0, completion_tokens = 0;
    const std::vector<Run> runs = run_prompts(m, prompts, g, ask, nullptr, client_gone(req));
    for (size_t p = 0; p < prompts.size(); ++p) {
      const Run& r = runs[p];
      const std::string prompt_text = ask.echo ? m.tok->decode(prompts[p]) : "";
      std::vector<TokenInfo> echoed;
      if (ask.echo && ask.top_logprobs >= 0) {
        echoed.push_back({prompts[p][0], 0, {}});
        for (auto& t : prompt_logprobs(m, prompts[p], ask.top_logprobs)) echoed.push_back(std::move(t));
      }
      for (int i = 0; i < n; ++i) {
        const auto& q = r.result.sequences[i];
        json lp = nullptr;
        if (ask.top_logprobs >= 0) {
          std::vector<TokenInfo> all = echoed;
          all.insert(all.end(), r.tokens[i].begin(), r.tokens[i].end());
          lp = completion_logprobs(m, all, 0, ask.echo);
        }
        choices.push_back(
            chunk(int(p) * n + i, prompt_text + q.text, lp, openai_finish_reason(q.finish_reason))["choices"][0]);
      }
      prompt_tokens += long(prompts[p].size());
      completion_tokens += r.result.stats.new_tokens;
    }
    send_json(res, {{"id", id},
                    {"object", "text_completion"},
                    {"created", created},
                    {"model", m.name},
                    {"choices", choices},
                    {"usage", usage_json(prompt_tokens, completion_tokens)}});
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [&m, g, ask, prompts, n, chunk, ticket, stream_usage, id, created, gone = client_gone(req)](
                               size_t, httplib::DataSink& sink) {
        Events ev{sink};
        long prompt_tokens = 0, completion_tokens = 0;
        try {
          if (ask.echo)
            for (size_t p = 0; p < prompts.size(); ++p)
              for (int i = 0; i < n; ++i) ev.send(chunk(int(p) * n + i, m.tok->decode(prompts[p]), nullptr, nullptr));
          std::vector<std::string> rest(prompts.size() * n);
          const std::vector<Run> runs = run_prompts(
              m, prompts, g, ask,
              [&](int k, const std::string& text, const TokenInfo* info) {
                if (!info) {  // the final flush: sent with the finish reason below
                  rest[k] = text;
                  return true;
                }
                json lp = nullptr;
                if (ask.top_logprobs >= 0) lp = completion_logprobs(m, {*info}, 0, false);
                return text.empty() && lp.is_null() ? ev.open : ev.send(chunk(k, text, lp, nullptr));
              },
              gone);
          for (size_t p = 0; p < prompts.size(); ++p) {
            for (int i = 0; i < n; ++i)
              ev.send(chunk(int(p) * n + i, rest[p * n + i], nullptr,
                            openai_finish_reason(runs[p].result.sequences[i].finish_reason)));
            prompt_tokens += long(prompts[p].size());
            completion_tokens += runs[p].result.stats.new_tokens;
          }
          if (stream_usage)
            ev.send(json{{"id", id},
                         {"object", "text_completion"},
                         {"created", created},
                         {"model", m.name},
                         {"choices", json::array()},
                         {"usage", usage_json(prompt_tokens, completion_tokens)}});
        } catch (const std::exception& e) {
          ev.send(json{{"error", {{"message", e.what()}}}});
        }
        ev.end();
        return true;
      });
}

// ---- /v1/chat/completions

// The messages of a chat request, checked: role and content strings (content parts of type
// "text" are joined, as OpenAI's servers do for text-only models).
json read_messages(const json& j) {
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
    throw BadRequest("messages must be a non-empty array of {role, content}");
  json out = json::array();
  for (const auto& msg : j["messages"]) {
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
      throw BadRequest("each message must be an object with a string role");
    json copy = msg;
    const json& c = msg.value("content", json(nullptr));
    if (c.is_array()) {
      std::string text;
      for (const auto& part : c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          throw BadRequest("message content parts must be {type: \"text\", text}");
        text += part["text"].get<std::string>();
      }
      copy["content"] = text;
    } else if (!c.is_string()) {
      if (!(c.is_null() && msg["role"] == "assistant")) throw BadRequest("message content must be a string");
      copy["content"] = "";
    }
    out.push_back(copy);
  }
  return out;
}

json chat_logprobs(const Served& m, const std::vector<TokenInfo>& infos) {
  auto bytes = [](const std::string& s) {
    json b = json::array();
    for (unsigned char ch : s) b.push_back(int(ch));
    return b;
  };
  json content = json::array();
  for (const auto& info : infos) {
    json top = json::array();
    for (const auto& [t, lp] : info.top) {
      const std::string& piece = m.tok->token_bytes(t);
      top.push_back({{"token", piece}, {"logprob", lp}, {"bytes", bytes(piece)}});
    }
    const std::string& piece = m.tok->token_bytes(info.token);
    content.push_back({{"token", piece}, {"logprob", info.logprob}, {"bytes", bytes(piece)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

void chat_completions(const httplib::Request& req, const json& j, Served& m, const ServerOptions& so,
                      httplib::Response& res) {
  check_fields(j, openai_fields({"messages", "top_logprobs", "max_completion_tokens"}));
  if (!m.chat)
    throw BadRequest(m.name +
                     " has no chat template: put a tokenizer_config.json with a chat_template in the model "
                     "directory, or use /v1/completions");
  const json messages = read_messages(j);
  const std::string prompt = m.chat->render(messages, true);
  const std::vector<int> ids = m.tok->encode(prompt);
  if (ids.empty()) throw BadRequest("the rendered chat is empty");
  const GenerateOptions g = read_options(j, m, so);
  check_length(m, ids.size(), g);
  Ask ask;
  if (field<bool>(j, "logprobs", false, 0, 0)) ask.top_logprobs = field<int>(j, "top_logprobs", 0, 0, 20);
  const bool stream = field<bool>(j, "stream", false, 0, 0);
  const bool stream_usage = stream && j.contains("stream_options") && j["stream_options"].is_object() &&
                            j["stream_options"].value("include_usage", false);
  const std::string id = new_id("chatcmpl-");
  const long created = long(std::time(nullptr));
  auto ticket = admit(m);
  const int n = g.num_return();
  if (!stream) {
    const Run r = std::move(run_prompts(m, {ids}, g, ask, nullptr, client_gone(req))[0]);
    json choices = json::array();
    for (int i = 0; i < n; ++i) {
      const auto& q = r.result.sequences[i];
      choices.push_back({{"index", i},
                         {"message", {{"role", "assistant"}, {"content", q.text}}},
                         {"logprobs", ask.top_logprobs >= 0 ? chat_logprobs(m, r.tokens[i]) : json(nullptr)},
                         {"finish_reason", openai_finish_reason(q.finish_reason)}});
    }
    send_json(res, {{"id", id},
                    {"object", "chat.completion"},
                    {"created", created},
                    {"model", m.name},
                    {"choices", choices},
                    {"usage", usage_json(long(ids.size()), r.result.stats.new_tokens)}});
    return;
  }
  auto chunk = [&m, id, created](int index, const json& delta, const json& lp, const json& finish) {
    return json{{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", m.name},
                {"choices", {{{"index", index}, {"delta", delta}, {"logprobs", lp}, {"finish_reason", finish}}}}};
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [&m, g, ask, ids, n, chunk, ticket, stream_usage, id, created,
                                                         gone = client_gone(req)](size_t, httplib::DataSink& sink) {
    Events ev{sink};
    try {
      for (int i = 0; i < n; ++i) ev.send(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
      std::vector<std::string> rest(n);
      const Run r = std::move(run_prompts(
          m, {ids}, g, ask,
          [&](int i, const std::string& text, const TokenInfo* info) {
            if (!info) {
              rest[i] = text;
              return true;
            }
            const json lp = ask.top_logprobs >= 0 ? chat_logprobs(m, {*info}) : json(nullptr);
            return text.empty() && lp.is_null() ? ev.open : ev.send(chunk(i, {{"content", text}}, lp, nullptr));
          },
          gone)[0]);
      for (int i = 0; i < n; ++i) {
        if (!rest[i].empty()) ev.send(chunk(i, {{"content", rest[i]}}, nullptr, nullptr));
        ev.send(chunk(i, json::object(), nullptr, openai_finish_reason(r.result.sequences[i].finish_reason)));
      }
      if (stream_usage)
        ev.send(json{{"id", id},
                     {"object", "chat.completion.chunk"},
                     {"created", created},
                     {"model", m.name},
                     {"choices", json::array()},
                     {"usage", usage_json(long(ids.size()), r.result.stats.new_tokens)}});
    } catch (const std::exception& e) {
      ev.send(json{{"error", {{"message", e.what()}}}});
    }
    ev.end();
    return true;
  });
}

}  // namespace

void add_openai_routes(httplib::Server& srv, Served& m, const ServerOptions& so) {
  srv.Get("/v1/models", [&m](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"object", "list"},
                    {"data", {{{"id", m.name}, {"object", "model"}, {"created", 0}, {"owned_by", "tformer"}}}}});
  });
  srv.Post("/v1/completions",
           [&](const httplib::Request& req, httplib::Response& res) { completions(req, parse_body(req), m, so, res); });
  srv.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    chat_completions(req, parse_body(req), m, so, res);
  });
}

}  // namespace tf
