// Errors that travel to the one place that prints them (the CLI or the server).
// Library code never calls exit(); it throws one of these with a message that names
// the file, tensor, field or value at fault.
#pragma once
#include <stdexcept>
#include <string>

namespace tf {

// Exit codes: 1 for bad input or a failed run, 2 for bad usage. Never >= 128.
inline constexpr int kExitBadInput = 1;
inline constexpr int kExitUsage = 2;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int exit_code = kExitBadInput)
      : std::runtime_error(msg), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Bad usage: flags that contradict each other or values out of range.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& msg) : Error(msg, kExitUsage) {}
};

// "[2,3,4]"; used in shape mismatch messages.
std::string shape_str(const std::initializer_list<long>& dims);
template <class Vec>
std::string shape_str(const Vec& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

}  // namespace tf
