#include "server/server.h"

#include <httplib.h>

#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <map>

#include "core/error.h"
#include "explain/explain.h"
#include "explain/run_history.h"
#include "model/model_dir.h"
#include "server/assets.h"

namespace tf {

namespace {

using json = nlohmann::json;

// A request the client got wrong: HTTP 400 with its message.
struct BadRequest : Error {
  explicit BadRequest(const std::string& m) : Error(m) {}
};

json parse_body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  try {
    json j = json::parse(req.body);
    if (!j.is_object()) throw BadRequest("the request body must be a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw BadRequest(std::string("the request body is not valid JSON: ") + e.what());
  }
}

template <class T>
T field(const json& j, const char* key, T def, double lo, double hi) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const json& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) throw BadRequest(std::string(key) + " must be true or false");
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw BadRequest(std::string(key) + " must be a string");
    if (double(v.get<std::string>().size()) > hi) throw BadRequest(std::string(key) + " is too long");
    return v.get<std::string>();
  } else {
    if (!v.is_number()) throw BadRequest(std::string(key) + " must be a number");
    const double x = v.get<double>();
    if (!(x >= lo && x <= hi))
      throw BadRequest(std::string(key) + " = " + v.dump() + " is outside [" + json(lo).dump() + ", " +
                       json(hi).dump() + "]");
    if constexpr (std::is_integral_v<T>) {
      if (x != double(long(x))) throw BadRequest(std::string(key) + " must be an integer");
    }
    return T(x);
  }
}

// The server's bounds on the generation fields (beyond what makes a value valid): what one
// request may ask of a shared machine.
struct Bounds {
  double lo, hi;
};
Bounds bounds_of(const std::string& id, const ServerOptions& so) {
  if (id == "max_new") return {1, double(so.max_new_tokens)};
  if (id == "num_return") return {1, double(so.max_return)};
  if (id == "temperature") return {0, 100};
  if (id == "top_k") return {0, 1 << 20};
  if (id == "top_p") return {1e-6, 1};
  if (id == "min_p") return {0, 1};
  if (id == "repetition_penalty") return {1e-3, 100};
  if (id == "frequency_penalty" || id == "presence_penalty") return {-2, 2};
  if (id == "no_repeat_ngram") return {0, 16};
  if (id == "beams") return {1, 16};
  if (id == "length_penalty") return {-10, 10};
  if (id == "min_new") return {0, double(so.max_new_tokens)};
  if (id == "eos") return {-1, 1 << 30};
  if (id == "seed") return {0, 9007199254740991.0};
  return {0, 4000};  // string lengths
}

// The generation fields of a request body, read by the one declaration of the options
// (generate/options.h); `names` renames fields for a route (OpenAI's max_tokens and n).
GenerateSettings generate_settings(const json& j, const ServerOptions& so,
                                   const std::map<std::string, std::string>& names, int max_def) {
  GenerateSettings s;
  s.max_new = max_def;
  for (const auto& f : generate_fields()) {
    const std::string id = f.id;
    if (id == "stop") continue;  // a string or an array: read by the route that takes it
    const auto renamed = names.find(id);
    const std::string key = renamed != names.end() ? renamed->second : f.json;
    const Bounds b = bounds_of(id, so);
    void* at = f.at(s);
    switch (f.kind) {
      case GenerateField::kInt:
        *static_cast<int*>(at) = field<int>(j, key.c_str(), *static_cast<int*>(at), b.lo, b.hi);
        break;
      case GenerateField::kU64:
        *static_cast<uint64_t*>(at) = field<uint64_t>(j, key.c_str(), *static_cast<uint64_t*>(at), b.lo, b.hi);
        break;
      case GenerateField::kFloat:
        *static_cast<float*>(at) = field<float>(j, key.c_str(), *static_cast<float*>(at), b.lo, b.hi);
        break;
      case GenerateField::kBool:
        *static_cast<bool*>(at) = field<bool>(j, key.c_str(), *static_cast<bool*>(at), 0, 0);
        break;
      case GenerateField::kString:
        *static_cast<std::string*>(at) = field<std::string>(j, key.c_str(), *static_cast<std::string*>(at), 0, b.hi);
        break;
      case GenerateField::kStrings:
        break;
    }
  }
  return s;
}

// The page sends every control whatever the strategy: a field the strategy ignores is not an
// error over HTTP (it is on the command line).
GenerateOptions generate_options(const json& j, const ServerOptions& so, const char* max_key, int max_def) {
  return to_options(generate_settings(j, so, {{"max_new", max_key}}, max_def),
                    [](const std::string&) { return false; });
}

ToyOptions toy_options(const json& j, const ServerOptions& so) {
  ToyOptions t;
  t.sentence = field<std::string>(j, "sentence", kExampleSentence, 0, 1000);
  t.prompt = field<std::string>(j, "prompt", "I love", 0, 1000);
  t.new_tokens = field<int>(j, "new", 3, 1, 30);
  t.train_steps = field<int>(j, "steps", 300, 0, so.max_train_steps);
  t.seed = field<uint64_t>(j, "toy_seed", 7, 0, 1e9);  // "seed" is the sampler's
  std::istringstream in(t.sentence);
  int words = 0;
  for (std::string w; in >> w;) ++words;
  if (words > so.max_sentence_words)
    throw BadRequest("sentence has more than " + std::to_string(so.max_sentence_words) + " words");
  t.gen = generate_options(j, so, "new", 3);
  return t;
}

json sequences_json(const GenerateResult& r, const Tokenizer* tok) {
  json seqs = json::array();
  for (const auto& q : r.sequences) {
    json words = json::array();
    if (tok)
      for (int id : q.tokens) words.push_back(tok->token_bytes(id));
    seqs.push_back({{"tokens", q.tokens},
                    {"pieces", words},
                    {"text", q.text},
                    {"logprob", q.logprob},
                    {"token_logprobs", q.logprobs},
                    {"score", q.score},
                    {"finish_reason", finish_reason_name(q.finish_reason)}});
  }
  const auto& s = r.stats;
  json tree = json::array();
  for (const auto& n : r.beam_tree)
    tree.push_back({{"id", n.id},
                    {"parent", n.parent},
                    {"step", n.step},
                    {"token", n.token},
                    {"piece", tok ? tok->token_bytes(n.token) : std::to_string(n.token)},
                    {"cum_logprob", n.cum_logprob},
                    {"score", n.score},
                    {"finished", n.finished}});
  return {{"sequences", seqs},
          {"beam_tree", tree},
          {"stats",
           {{"prefill_tokens", s.prompt_tokens},
            {"new_tokens", s.new_tokens},
            {"positions_processed", s.positions_processed},
            {"forward_passes", s.forward_passes},
            {"flops", s.flops},
            {"seconds", s.prefill_s + s.decode_s},
            {"kv_cache_bytes", s.kv_cache_bytes}}}};
}

// The served model is const and shared: each request runs it with a workspace of its own, so
// requests run in parallel on the server's threads.
struct Served {
  std::unique_ptr<const Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::string name;
  // What the model's training run left (empty/null for a model that is not a run): read once at
  // start, the walkthrough's loss curve and the default ground truth.
  std::string validation;
  nlohmann::json run_loss;
};

std::atomic<httplib::Server*> g_server{nullptr};
void on_signal(int) {
  if (auto* s = g_server.load()) s->stop();
}

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// OpenAI's names for two of the fields, and its finish reasons.
const std::map<std::string, std::string> kOpenAiNames = {{"max_new", "max_tokens"}, {"num_return", "n"}};
const char* openai_finish_reason(FinishReason r) { return r == FinishReason::kEos ? "stop" : finish_reason_name(r); }

void completions(const json& j, Served& m, const ServerOptions& so, httplib::Response& res) {
  if (!j.contains("prompt") || !j["prompt"].is_string()) throw BadRequest("prompt must be a string");
  const std::string prompt = j["prompt"];
  if (prompt.size() > so.max_body_bytes) throw BadRequest("prompt is too long");
  GenerateSettings gs = generate_settings(j, so, kOpenAiNames, 16);
  gs.strategy = gs.filters.temperature == 0 ? "greedy" : "sample";  // OpenAI: temperature 0 is greedy
  if (gs.num_return > 1 && gs.strategy == "greedy") throw BadRequest("n > 1 needs temperature > 0");
  GenerateOptions g = to_options(gs, [](const std::string&) { return false; });
  if (j.contains("stop") && !j["stop"].is_null()) {
    if (j["stop"].is_string())
      g.stop = {j["stop"].get<std::string>()};
    else if (j["stop"].is_array() && j["stop"].size() <= 4) {
      for (auto& s : j["stop"]) {
        if (!s.is_string() || s.get<std::string>().empty()) throw BadRequest("stop must hold non-empty strings");
        g.stop.push_back(s);
      }
    } else {
      throw BadRequest("stop must be a string or an array of at most 4 strings");
    }
  }
  const int logprobs = j.contains("logprobs") && !j["logprobs"].is_null() ? field<int>(j, "logprobs", 0, 0, 5) : -1;
  const bool stream = field<bool>(j, "stream", false, 0, 0);
  const std::vector<int> ids = m.tok->encode(prompt);
  if (ids.empty()) throw BadRequest("prompt is empty");
  if (int(ids.size()) + g.max_new > m.model->config().n_positions)
    throw BadRequest("prompt (" + std::to_string(ids.size()) + " tokens) + max_tokens exceeds n_positions " +
                     std::to_string(m.model->config().n_positions));
  validate(g, m.model->config().vocab_size, true);
  static std::atomic<long> counter{0};
  const std::string id = "cmpl-" + std::to_string(++counter);
  const long created = long(std::time(nullptr));
  if (!stream) {
    const GenerateResult r = generate(*m.model, m.tok.get(), ids, g);
    json choices = json::array();
    for (size_t i = 0; i < r.sequences.size(); ++i) {
      const auto& q = r.sequences[i];
      json lp = nullptr;
      if (logprobs >= 0) {
        json toks = json::array(), offs = json::array();
        size_t off = prompt.size();
        for (int t : q.tokens) {
          toks.push_back(m.tok->token_bytes(t));
          offs.push_back(off);
          off += m.tok->token_bytes(t).size();
        }
        lp = {{"tokens", toks}, {"token_logprobs", q.logprobs}, {"top_logprobs", nullptr}, {"text_offset", offs}};
      }
      choices.push_back(
          {{"text", q.text}, {"index", i}, {"logprobs", lp}, {"finish_reason", openai_finish_reason(q.finish_reason)}});
    }
    send_json(res, {{"id", id},
                    {"object", "text_completion"},
                    {"created", created},
                    {"model", m.name},
                    {"choices", choices},
                    {"usage",
                     {{"prompt_tokens", ids.size()},
                      {"completion_tokens", r.stats.new_tokens},
                      {"total_tokens", ids.size() + r.stats.new_tokens}}}});
    return;
  }
  // Server-sent events: one event per token (UTF-8 characters never split), then [DONE].
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [&m, g, ids, id, created](size_t, httplib::DataSink& sink) {
    std::vector<std::string> pending(g.num_return());
    auto event = [&](int i, const std::string& text, const json& finish) {
      const json e = {{"id", id},
                      {"object", "text_completion"},
                      {"created", created},
                      {"model", m.name},
                      {"choices", {{{"text", text}, {"index", i}, {"logprobs", nullptr}, {"finish_reason", finish}}}}};
      const std::string s = "data: " + e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
      return sink.write(s.data(), s.size());
    };
    GenerateResult r;
    try {
      r = generate(*m.model, m.tok.get(), ids, g, {.on_token = [&](int i, int tok, float) {
        pending[i] += m.tok->token_bytes(tok);
        const size_t n = utf8_complete_prefix(pending[i]);
        const bool ok = n == 0 || event(i, pending[i].substr(0, n), nullptr);
        pending[i].erase(0, n);
        return ok;
      }});
    } catch (const std::exception& e) {
      const std::string s = "data: " + json({{"error", {{"message", e.what()}}}}).dump() + "\n\n";
      sink.write(s.data(), s.size());
      sink.done();
      return true;
    }
    for (size_t i = 0; i < r.sequences.size(); ++i)
      event(int(i), pending[i], openai_finish_reason(r.sequences[i].finish_reason));
    const std::string done = "data: [DONE]\n\n";
    sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

}  // namespace

void run_server(const ServerOptions& so) {
  Served served;
  if (!so.model_dir.empty()) {
    LoadedModel lm = load_model_dir(so.model_dir);
    if (!lm.tokenizer) throw Error(so.model_dir + ": serve --model needs a model directory with a tokenizer");
    served.model = std::move(lm.model);
    served.tok = std::move(lm.tokenizer);
    served.name = so.model_dir;
    served.validation = validation_text(so.model_dir);
    served.run_loss = run_loss_curve(so.model_dir);
  } else {
    Toy toy = build_toy({});
    served.tok = std::make_unique<WordTokenizer>(toy.vocab);
    served.model = std::move(toy.model);
    served.name = "toy";
  }

  httplib::Server srv;
  srv.set_payload_max_length(so.max_body_bytes);
  // A body announced larger than the bound is refused from its headers, before it is read.
  srv.set_pre_routing_handler([&so](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Content-Length")) {
      const std::string v = req.get_header_value("Content-Length");
      const bool too_big = v.size() > 15 || std::stoull("0" + v) > so.max_body_bytes;
      if (too_big) {
        send_json(res,
                  {{"error",
                    {{"message", "request body of " + v + " bytes is larger than the server accepts (" +
                                     std::to_string(so.max_body_bytes) + ")"}}}},
                  413);
        res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  srv.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const FieldError& e) {  // a generation option, named as this route's field
      const bool openai = req.path.starts_with("/v1/");
      const bool toy = req.path == "/api/explain" || req.path == "/api/train";
      send_json(res,
                {{"error",
                  {{"message", render_field_error(e,
                                                  [&](const std::string& id) {
                                                    if (openai && kOpenAiNames.count(id)) return kOpenAiNames.at(id);
                                                    if (toy && id == "max_new") return std::string("new");
                                                    return json_name(id);
                                                  })}}}},
                400);
    } catch (const Error& e) {  // BadRequest and every validation error of the engine
      send_json(res, {{"error", {{"message", e.what()}}}}, 400);
    } catch (const std::exception& e) {
      send_json(res, {{"error", {{"message", std::string("internal error: ") + e.what()}}}}, 500);
    }
  });
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string msg = res.status == 413   ? "request body is larger than the server accepts"
                            : res.status == 404 ? "no such path: " + req.path
                                                : "HTTP " + std::to_string(res.status);
    send_json(res, {{"error", {{"message", msg}}}}, res.status);
  });
  // Static files: only the embedded assets, looked up by exact name; nothing reads the disk.
  srv.Get(R"(/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
    std::string path = req.path == "/" ? "/index.html" : req.path;
    if (path.find("..") != std::string::npos) {
      send_json(res, {{"error", {{"message", "path traversal refused"}}}}, 400);
      return;
    }
    for (const auto& a : web_assets())
      if (path == a.path) {
        res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.content_type);
        return;
      }
    if (path == "/favicon.ico") {
      res.status = 204;
      return;
    }
    if (path == "/api/info") {
      const Config& c = served.model->config();
      send_json(res, {{"model", served.name},
                      {"tokenizer", tokenizer_kind_name(served.tok->kind())},
                      {"vocab_size", c.vocab_size},
                      {"n_positions", c.n_positions},
                      {"n_embd", c.n_embd},
                      {"n_layer", c.n_layer},
                      {"n_head", c.n_head},
                      {"parameters", served.model->params().size()},
                      {"limits",
                       {{"max_body_bytes", so.max_body_bytes},
                        {"max_new_tokens", so.max_new_tokens},
                        {"max_sentence_words", so.max_sentence_words}}},
                      {"validation_sample", validation_sample(served.validation)},
                      {"has_run_loss", served.run_loss.is_object()}});
      return;
    }
    send_json(res, {{"error", {{"message", "no such path: " + req.path}}}}, 404);
  });
  // The toy walkthrough (a fresh toy per request: requests run in parallel), or the loaded model's.
  srv.Post("/api/explain", [&](const httplib::Request& req, httplib::Response& res) {
    const json j = parse_body(req);
    if (field<bool>(j, "model", false, 0, 0)) {
      if (so.model_dir.empty()) throw BadRequest("no model loaded: start tformer serve --model DIR");
      GenerateOptions g = generate_options(j, so, "new", 8);
      const std::string prompt = field<std::string>(j, "prompt", "", 0, 4000);
      ModelWalkOptions walk{.truth = field<std::string>(j, "truth", "", 0, 4000), .truth_source = "given"};
      if (walk.truth.empty()) {
        walk.truth = continuation_in(served.validation, prompt, 256);
        walk.truth_source = "validation text";
      }
      json out = explain_model(*served.model, *served.tok, prompt, g.max_new, g, walk);
      out["training"]["run_loss"] = served.run_loss;
      send_json(res, out);
      return;
    }
    const ToyOptions t = toy_options(j, so);
    if (std::holds_alternative<BeamSearch>(t.gen.search))
      throw BadRequest("explain walks greedy or sample; use /api/generate for beams");
    send_json(res, explain_toy(t));
  });
  // Training the toy live: server-sent events, one {"step", "loss"} per training step, then
  // {"done": true, "loss_curve": [...]}. The same training as /api/explain's for the same body.
  srv.Post("/api/train", [&](const httplib::Request& req, httplib::Response& res) {
    const ToyOptions t = toy_options(parse_body(req), so);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [t](size_t, httplib::DataSink& sink) {
      ToyOptions live = t;
      bool open = true;
      auto send = [&](const json& e) {
        const std::string s = "data: " + e.dump() + "\n\n";
        open = open && sink.write(s.data(), s.size());
      };
      live.on_train_step = [&](int step, double loss) { send({{"step", step}, {"loss", loss}}); };
      try {
        const Toy toy = build_toy(live);
        send({{"done", true}, {"loss_curve", toy.loss_curve}});
      } catch (const std::exception& e) {
        send({{"error", {{"message", e.what()}}}});
      }
      sink.done();
      return true;
    });
  });
  // Generation on the toy trained on `sentence` (default), or on the loaded model.
  srv.Post("/api/generate", [&](const httplib::Request& req, httplib::Response& res) {
    const json j = parse_body(req);
    GenerateOptions g = generate_options(j, so, "max_new", 8);
    if (auto* b = std::get_if<BeamSearch>(&g.search)) b->trace = true;
    const std::string prompt = field<std::string>(j, "prompt", "I love", 0, 4000);
    if (field<bool>(j, "model", false, 0, 0)) {
      if (so.model_dir.empty()) throw BadRequest("no model loaded: start tformer serve --model DIR");
      const std::vector<int> ids = served.tok->encode(prompt);
      send_json(res, sequences_json(generate(*served.model, served.tok.get(), ids, g), served.tok.get()));
      return;
    }
    ToyOptions t = toy_options(j, so);
    Toy toy = build_toy(t);
    WordTokenizer words(toy.vocab);
    const std::vector<int> ids = words.encode(prompt);
    json out = sequences_json(generate(*toy.model, &words, ids, g), &words);
    out["vocab"] = toy.vocab;
    send_json(res, out);
  });
  srv.Post("/v1/completions",
           [&](const httplib::Request& req, httplib::Response& res) { completions(parse_body(req), served, so, res); });

  if (!srv.bind_to_port(so.host.c_str(), so.port))
    throw Error("cannot listen on " + so.host + ":" + std::to_string(so.port) + " (in use, or not an address here)");
  g_server = &srv;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "tformer serve: http://" << so.host << ":" << so.port << "/ (model: " << served.name << ")" << std::endl;
  srv.listen_after_bind();
  g_server = nullptr;
}

}  // namespace tf
