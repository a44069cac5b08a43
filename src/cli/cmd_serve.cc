// tformer serve: the explainer page, its API and the OpenAI-compatible /v1 routes; and tformer
// chat-template, which renders a model's chat template as /v1/chat/completions does.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "core/error.h"
#include "server/chat_template.h"
#include "server/server.h"

namespace tf::cli {

namespace {

// One JSON context a line on stdin ({"messages": [...], "add_generation_prompt": true, ...}),
// one JSON line out: {"text": ...} or {"error": ...}. The node test renders the same contexts
// with @huggingface/jinja and compares.
void add_chat_template(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("chat-template", "Render the chat template of a model directory over JSON lines");
  sub->add_option("--model", *dir, "folder with a tokenizer_config.json that holds a chat_template")->required();
  sub->callback([dir] {
    const auto t = load_chat_template(*dir);
    if (!t) throw tf::Error(*dir + "/tokenizer_config.json: no chat_template");
    for (std::string line; std::getline(std::cin, line);) {
      nlohmann::json out;
      try {
        out["text"] = t->render(nlohmann::json::parse(line));
      } catch (const std::exception& e) {
        out["error"] = e.what();
      }
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
  });
}

}  // namespace

void add_serve(CLI::App& app) {
  auto o = std::make_shared<ServerOptions>();
  auto threads = std::make_shared<int>(0);
  auto* sub = app.add_subcommand("serve",
                                 "Serve the interactive explainer page, its JSON API and an OpenAI-compatible /v1 API");
  sub->add_option("--model", o->model_dir, "model directory (default: the walkthrough's toy)");
  sub->add_option("--host", o->host, "address to bind (loopback unless you say otherwise)")->capture_default_str();
  sub->add_option("--port", o->port, "port")->capture_default_str()->check(CLI::Range(1, 65535));
  sub->add_option("--max-running", o->max_running, "requests decoded together, one batched step for all")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub->add_option("--kv-rows", o->kv_rows,
                  "rows of the KV-cache pool the running requests share (a row: one position's K and V in every "
                  "layer); a request that needs more than the pool gets a 400, one that needs more than is free "
                  "waits")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 22));
  sub->add_option("--max-queue", o->max_queue, "requests that may wait for a place; past that: 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  sub->add_option("--backlog", o->backlog, "listen backlog: connections the kernel holds before accept")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  sub->add_option("--threads", *threads, "compute threads (0 = all cores)")->capture_default_str();
  sub->callback([o, threads] {
    set_threads(*threads);
    on_interrupt(stop_server);  // Ctrl-C or SIGTERM: stop listening, answer what is open, exit
    run_server(*o);
  });
  add_chat_template(app);
}

}  // namespace tf::cli
