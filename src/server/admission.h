// Admission control for requests that run the model: at most `running` compute at once, at most
// `queue` more wait for a turn, and past that a request is refused at once (HTTP 503 with
// Retry-After) instead of piling up until its client times out.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>

namespace tf {

class Admission {
 public:
  Admission(int running, int queue) : max_running_(running), max_admitted_(running + queue) {}

  // A place in line; its destructor gives back the place and, once run() returned, the turn.
  class Ticket {
   public:
    explicit Ticket(Admission& a) : a_(a) {}
    Ticket(const Ticket&) = delete;
    ~Ticket() {
      std::lock_guard<std::mutex> lock(a_.mutex_);
      --a_.admitted_;
      if (running_) --a_.running_;
      a_.turn_.notify_one();
    }
    // Waits for a turn to compute (idempotent).
    void run() {
      if (running_) return;
      std::unique_lock<std::mutex> lock(a_.mutex_);
      a_.turn_.wait(lock, [&] { return a_.running_ < a_.max_running_; });
      ++a_.running_;
      running_ = true;
    }

   private:
    Admission& a_;
    bool running_ = false;
  };

  // A place in line, or null when the line is full.
  std::shared_ptr<Ticket> try_enter() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (admitted_ >= max_admitted_) return nullptr;
    ++admitted_;
    return std::make_shared<Ticket>(*this);
  }
  int max_admitted() const { return max_admitted_; }

 private:
  const int max_running_, max_admitted_;
  int running_ = 0, admitted_ = 0;  // admitted_ counts the running and the waiting
  std::mutex mutex_;
  std::condition_variable turn_;
};

}  // namespace tf
