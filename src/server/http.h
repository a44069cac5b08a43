// What the server's routes share: the served model, reading a JSON body and its fields, the
// generation options of a request, JSON replies and the per-request log. Internal to src/server.
#pragma once
#include <httplib.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/error.h"
#include "generate/generator.h"
#include "server/admission.h"
#include "server/batcher.h"
#include "server/chat_template.h"
#include "server/server.h"

namespace tf {

using json = nlohmann::json;

// A request the client got wrong: HTTP 400 with its message.
struct BadRequest : Error {
  explicit BadRequest(const std::string& m) : Error(m) {}
};
// Refused for load: HTTP 503 with Retry-After.
struct Overloaded : Error {
  explicit Overloaded(const std::string& m) : Error(m) {}
};

// The served model is const and shared: generation requests are decoded together by the
// batcher; the walkthrough's requests run it with a workspace of their own.
struct Served {
  std::unique_ptr<const Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::string name;
  // What the model's training run left (empty/null for a model that is not a run): read once at
  // start, the walkthrough's loss curve and the default ground truth.
  std::string validation;
  json run_loss;
  std::unique_ptr<ChatTemplate> chat;    // from tokenizer_config.json, or null
  std::unique_ptr<Admission> admission;  // the bound on requests running or waiting (503 past it)
  std::unique_ptr<Batcher> batcher;      // decodes the generation requests together
};

// What the request log line reports; set per request on the thread that serves it (cpp-httplib
// runs a request's handler, its stream and its logger on one thread).
struct RequestLog {
  std::chrono::steady_clock::time_point start;
  long tokens = 0;  // prompt + generated
};
RequestLog& request_log();

json parse_body(const httplib::Request& req);
// 400 naming every field of j that is not in allowed.
void check_fields(const json& j, const std::set<std::string>& allowed);
void send_json(httplib::Response& res, const json& j, int status = 200);
// Whether req's client has hung up, asked of its socket (cpp-httplib 0.11 does not hand a
// handler its connection, so this finds it among the process's sockets by the two ends'
// addresses); an empty function when it cannot be found. Valid while req is being served.
std::function<bool()> client_gone(const httplib::Request& req);

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

// The generation fields of a request body, read by the one declaration of the options
// (generate/options.h); `names` renames fields for a route (OpenAI's max_tokens and n). Without
// a seed, a fresh one is drawn: two requests sample differently unless they say otherwise.
GenerateSettings generate_settings(const json& j, const ServerOptions& so,
                                   const std::map<std::string, std::string>& names, int max_def);
// The JSON names of the generation fields on a route.
std::set<std::string> generate_field_names(const std::map<std::string, std::string>& names);

// OpenAI's names for two of the fields.
extern const std::map<std::string, std::string> kOpenAiNames;

// The OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions.
void add_openai_routes(httplib::Server& srv, Served& m, const ServerOptions& so);

}  // namespace tf
