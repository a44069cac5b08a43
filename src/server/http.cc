#include "server/http.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <random>

namespace tf {

RequestLog& request_log() {
  thread_local RequestLog log;
  return log;
}

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

void check_fields(const json& j, const std::set<std::string>& allowed) {
  std::string unknown;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key())) unknown += (unknown.empty() ? "" : ", ") + it.key();
  if (!unknown.empty()) throw BadRequest("unknown field(s): " + unknown);
}

void send_json(httplib::Response& res, const json& j, int status) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

namespace {

// The numeric host and port of a socket address, as cpp-httplib writes them into a Request.
bool host_port(const sockaddr_storage& a, socklen_t len, std::string& host, int& port) {
  char h[NI_MAXHOST], s[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, h, sizeof h, s, sizeof s,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  host = h;
  port = std::atoi(s);
  return true;
}

}  // namespace

std::function<bool()> client_gone(const httplib::Request& req) {
  if (req.remote_port < 0 || req.local_port < 0) return {};
  int found = -1;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (const dirent* e = readdir(d)) {
      const int fd = std::atoi(e->d_name);
      if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
      sockaddr_storage a{};
      socklen_t len = sizeof a;
      std::string host;
      int port = -1;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || !host_port(a, len, host, port) ||
          port != req.local_port || host != req.local_addr)
        continue;
      len = sizeof a;
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || !host_port(a, len, host, port) ||
          port != req.remote_port || host != req.remote_addr)
        continue;
      found = fd;
      break;
    }
    closedir(d);
  }
  if (found < 0) return {};
  // The peer's FIN or reset: it sends no more and reads nothing (a client does not half-close
  // an HTTP request it still wants answered).
  return [found] {
    pollfd p{found, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  };
}

const std::map<std::string, std::string> kOpenAiNames = {{"max_new", "max_tokens"}, {"num_return", "n"}};

namespace {

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

std::string key_of(const GenerateField& f, const std::map<std::string, std::string>& names) {
  const auto renamed = names.find(f.id);
  return renamed != names.end() ? renamed->second : f.json;
}

}  // namespace

std::set<std::string> generate_field_names(const std::map<std::string, std::string>& names) {
  std::set<std::string> out;
  for (const auto& f : generate_fields()) out.insert(key_of(f, names));
  return out;
}

GenerateSettings generate_settings(const json& j, const ServerOptions& so,
                                   const std::map<std::string, std::string>& names, int max_def) {
  GenerateSettings s;
  s.max_new = max_def;
  for (const auto& f : generate_fields()) {
    const std::string id = f.id;
    if (id == "stop") continue;  // a string or an array: read by the route that takes it
    const std::string key = key_of(f, names);
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
  if (!j.contains("seed") || j["seed"].is_null()) {
    static std::mutex mutex;
    static std::mt19937_64 fresh{std::random_device{}()};
    std::lock_guard<std::mutex> lock(mutex);
    s.seed = fresh() >> 11;  // < 2^53: a JSON number keeps it exactly
  }
  return s;
}

}  // namespace tf
