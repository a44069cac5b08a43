// tformer serve: the explainer page ("Try it yourself"), its JSON API, and the OpenAI-compatible
// /v1/models, /v1/completions and /v1/chat/completions, over cpp-httplib.
#pragma once
#include <string>

namespace tf {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless the user asks for another address
  int port = 8080;
  std::string model_dir;  // "" = the toy model of the walkthrough
  size_t max_body_bytes = 64 * 1024;
  int max_new_tokens = 256;
  int max_sentence_words = 32;
  int max_train_steps = 2000;
  int max_return = 8;
  // Load: requests decoded together in one batch (batcher.h), how many more wait for a place
  // (past that: 503 with Retry-After), the rows of the KV pool all of them share, and the
  // listen backlog of connections not yet accepted.
  int max_running = 16;
  int max_queue = 64;
  int kv_rows = 4096;
  int backlog = 1024;
};

// Blocks until the server stops (SIGINT/SIGTERM). Throws Error when the port cannot be bound
// ("port P is in use").
void run_server(const ServerOptions& o);
// Makes a running run_server() return (its open requests are answered first); safe from any thread.
void stop_server();

}  // namespace tf
