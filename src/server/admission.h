// Admission control for generation requests: at most `running` are decoded at once (by the
// batcher, batcher.h) and `queue` more wait for a place; past that a request is refused at once
// (HTTP 503 with Retry-After) instead of piling up until its client times out.
#pragma once
#include <memory>
#include <mutex>

namespace tf {

class Admission {
 public:
  Admission(int running, int queue) : max_admitted_(running + queue) {}

  // A place, running or waiting; its destructor gives it back (when the response has been sent).
  class Ticket {
   public:
    explicit Ticket(Admission& a) : a_(a) {}
    Ticket(const Ticket&) = delete;
    ~Ticket() {
      std::lock_guard<std::mutex> lock(a_.mutex_);
      --a_.admitted_;
    }

   private:
    Admission& a_;
  };

  // A place, or null when every place is taken.
  std::shared_ptr<Ticket> try_enter() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (admitted_ >= max_admitted_) return nullptr;
    ++admitted_;
    return std::make_shared<Ticket>(*this);
  }
  int max_admitted() const { return max_admitted_; }

 private:
  const int max_admitted_;
  int admitted_ = 0;  // running and waiting
  std::mutex mutex_;
};

}  // namespace tf
