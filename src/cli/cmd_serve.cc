// tformer serve: the explainer page, its API and /v1/completions.
#include "cli/commands.h"
#include "server/server.h"

namespace tf::cli {

void add_serve(CLI::App& app) {
  auto o = std::make_shared<ServerOptions>();
  auto threads = std::make_shared<int>(0);
  auto* sub = app.add_subcommand("serve", "Serve the interactive explainer page, its JSON API and /v1/completions");
  sub->add_option("--model", o->model_dir, "model directory (default: the walkthrough's toy)");
  sub->add_option("--host", o->host, "address to bind (loopback unless you say otherwise)")->capture_default_str();
  sub->add_option("--port", o->port, "port")->capture_default_str()->check(CLI::Range(1, 65535));
  sub->add_option("--threads", *threads, "compute threads (0 = all cores)")->capture_default_str();
  sub->callback([o, threads] {
    set_threads(*threads);
    run_server(*o);
  });
}

}  // namespace tf::cli
