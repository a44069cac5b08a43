#include "server/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
#include "server/http.h"

namespace tf {

namespace {

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

// The routes and their methods: another method on one of these paths is a 405, not a 404.
const std::map<std::string, std::string> kRoutes = {
    {"/api/info", "GET"},   {"/health", "GET"},        {"/v1/models", "GET"},       {"/api/explain", "POST"},
    {"/api/train", "POST"}, {"/api/generate", "POST"}, {"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"}};

bool method_not_allowed(const httplib::Request& req, httplib::Response& res) {
  const auto it = kRoutes.find(req.path);
  if (it == kRoutes.end() || it->second == req.method) return false;
  res.set_header("Allow", it->second);
  send_json(res, {{"error", {{"message", req.method + " " + req.path + " is not allowed; use " + it->second}}}}, 405);
  return true;
}

// A body of the page's API: the generation options and the walkthrough's own fields.
json api_body(const httplib::Request& req) {
  static const std::set<std::string> allowed = [] {
    std::set<std::string> s = generate_field_names({});
    for (const char* f : {"sentence", "prompt", "new", "steps", "toy_seed", "model", "truth"}) s.insert(f);
    return s;
  }();
  json j = parse_body(req);
  check_fields(j, allowed);
  return j;
}

// Whether another socket holds host:port (bind_to_port does not say why it failed).
bool port_in_use(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool in_use = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EADDRINUSE;
  ::close(fd);
  return in_use;
}

std::atomic<httplib::Server*> g_server{nullptr};

}  // namespace

void stop_server() {
  if (auto* s = g_server.load()) s->stop();
}

void run_server(const ServerOptions& so) {
  Served served;
  if (!so.model_dir.empty()) {
    LoadedModel lm = load_model_dir(so.model_dir);
    if (!lm.tokenizer)
      throw Error(so.model_dir + ": serve --model needs a model directory with a tokenizer" +
                  (lm.no_tokenizer.empty() ? std::string() : " (" + lm.no_tokenizer + ")"));
    served.model = std::move(lm.model);
    served.tok = std::move(lm.tokenizer);
    served.name = so.model_dir;
    served.validation = validation_text(so.model_dir);
    served.run_loss = run_loss_curve(so.model_dir);
    served.chat = load_chat_template(so.model_dir);
  } else {
    Toy toy = build_toy({});
    served.tok = std::make_unique<WordTokenizer>(toy.vocab);
    served.model = std::move(toy.model);
    served.name = "toy";
  }

  served.admission = std::make_unique<Admission>(so.max_running, so.max_queue);
  // Before the HTTP server, so that it outlives every handler that waits on it.
  served.batcher = std::make_unique<Batcher>(*served.model, served.tok.get(),
                                             BatcherOptions{.kv_rows = so.kv_rows, .max_running = so.max_running});

  httplib::Server srv;
  srv.set_payload_max_length(so.max_body_bytes);
  // A stream's reader may pause (its sends back up in the kernel's buffers) this long before its
  // connection is given up; the batch never waits for it (batcher.h), only its HTTP thread does.
  srv.set_write_timeout(30, 0);
  // A connection holds a thread while it is served or kept alive, and a request waiting for its
  // turn holds one too: enough threads that every admitted request and as many again can be
  // read and answered (a 503 is only useful if it comes at once).
  const int http_threads = std::max(64, 2 * (so.max_running + so.max_queue) + 8);
  srv.new_task_queue = [http_threads] { return new httplib::ThreadPool(size_t(http_threads)); };
  // The port is ours alone: SO_REUSEADDR (a restart need not wait out TIME_WAIT) but not
  // cpp-httplib's default SO_REUSEPORT, under which a second server would bind the same port and
  // the kernel would split the connections between the two.
  int listen_fd = -1;
  srv.set_socket_options([&listen_fd](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = fd;
  });
  // A body announced larger than the bound is refused from its headers, before it is read.
  srv.set_pre_routing_handler([&so](const httplib::Request& req, httplib::Response& res) {
    request_log() = {std::chrono::steady_clock::now(), 0};
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
    } catch (const Overloaded& e) {
      res.set_header("Retry-After", "1");
      send_json(res, {{"error", {{"message", e.what()}, {"type", "server_busy"}}}}, 503);
    } catch (const Error& e) {  // BadRequest and every validation error of the engine
      send_json(res, {{"error", {{"message", e.what()}}}}, 400);
    } catch (const std::exception& e) {
      send_json(res, {{"error", {{"message", std::string("internal error: ") + e.what()}}}}, 500);
    }
  });
  // One line per request: method, path, status, tokens (prompt + generated), milliseconds.
  srv.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    const RequestLog& log = request_log();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - log.start).count();
    char line[512];
    std::snprintf(line, sizeof line, "%s %s %d tokens=%ld ms=%.1f\n", req.method.c_str(), req.path.c_str(), res.status,
                  log.tokens, ms);
    std::cerr << line << std::flush;
  });
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string msg = res.status == 413   ? "request body is larger than the server accepts"
                            : res.status == 404 ? "no such path: " + req.path
                                                : "HTTP " + std::to_string(res.status);
    send_json(res, {{"error", {{"message", msg}}}}, res.status);
  });
  srv.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"status", "ok"}}); });
  add_openai_routes(srv, served, so);
  // Static files: only the embedded assets, looked up by exact name; nothing reads the disk.
  srv.Get(R"(/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
    if (method_not_allowed(req, res)) return;
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
      json info = {{"model", served.name},
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
                     {"kv_rows", so.kv_rows},
                     {"max_running", so.max_running},
                     {"max_queue", so.max_queue},
                     {"backlog", so.backlog},
                     {"max_sentence_words", so.max_sentence_words}}},
                   {"batcher",
                    {{"steps", served.batcher->counters().steps},
                     {"sequences_stepped", served.batcher->counters().sequences},
                     {"widest_step", served.batcher->counters().widest}}},
                   {"validation_sample", validation_sample(served.validation)},
                   {"has_run_loss", served.run_loss.is_object()}};
      if (c.llama()) {  // the page's header names the K/V heads; GPT-2's info stays as it was
        info["arch"] = "llama";
        info["n_kv_head"] = c.kv_heads();
      }
      send_json(res, info);
      return;
    }
    send_json(res, {{"error", {{"message", "no such path: " + req.path}}}}, 404);
  });
  // The toy walkthrough (a fresh toy per request: requests run in parallel), or the loaded model's.
  srv.Post("/api/explain", [&](const httplib::Request& req, httplib::Response& res) {
    const json j = api_body(req);
    if (field<bool>(j, "model", !so.model_dir.empty(), 0, 0)) {
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
    const ToyOptions t = toy_options(api_body(req), so);
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
    const json j = api_body(req);
    GenerateOptions g = generate_options(j, so, "max_new", 8);
    if (auto* b = std::get_if<BeamSearch>(&g.search)) b->trace = true;
    const std::string prompt = field<std::string>(j, "prompt", "I love", 0, 4000);
    if (field<bool>(j, "model", !so.model_dir.empty(), 0, 0)) {
      if (so.model_dir.empty()) throw BadRequest("no model loaded: start tformer serve --model DIR");
      const std::vector<int> ids = served.tok->encode(prompt);
      send_json(res, sequences_json(served.batcher->generate(ids, g, client_gone(req)), served.tok.get()));
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
  const auto other = [](const httplib::Request& req, httplib::Response& res) {
    if (!method_not_allowed(req, res)) send_json(res, {{"error", {{"message", "no such path: " + req.path}}}}, 404);
  };
  srv.Post(R"(/(.*))", other);
  srv.Put(R"(/(.*))", other);
  srv.Delete(R"(/(.*))", other);
  srv.Patch(R"(/(.*))", other);

  if (!srv.bind_to_port(so.host.c_str(), so.port)) {
    if (port_in_use(so.host, so.port)) throw Error("port " + std::to_string(so.port) + " is in use");
    throw Error("cannot listen on " + so.host + ":" + std::to_string(so.port) + " (not an address of this machine?)");
  }
  // cpp-httplib listens with a backlog of 5 (compiled into the library): a burst of clients
  // connecting at once would see resets. listen() again on the bound socket raises it (Linux caps
  // it at net.core.somaxconn).
  if (listen_fd >= 0) ::listen(listen_fd, so.backlog);
  g_server = &srv;
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not the end of the server
  std::cout << "tformer serve: http://" << so.host << ":" << so.port << "/ (model: " << served.name << ")" << std::endl;
  srv.listen_after_bind();
  g_server = nullptr;
}

}  // namespace tf
