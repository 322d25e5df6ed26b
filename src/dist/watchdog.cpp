// Watchdog thread: wakes a few times a second, retires finished asynchronous entries and fires
// on the oldest entry past the timeout. It never touches MPI itself except through the abort.
#include "dist/watchdog.h"

#include <cstdio>

#include "core/error.h"
#include "dist/runtime.h"

namespace omnitune {

Watchdog& Watchdog::instance() {
  static Watchdog w;
  return w;
}

Watchdog::Watchdog() {
  on_timeout_ = [](const std::string& msg) { fatal_abort(msg); };
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::set_timeout(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  timeout_s_ = seconds;
}

double Watchdog::timeout() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timeout_s_;
}

void Watchdog::set_on_timeout(std::function<void(const std::string&)> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  on_timeout_ = std::move(handler);
}

uint64_t Watchdog::enter(const std::string& op, const std::string& group, int group_rank,
                         int group_size, std::function<bool()> done) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_id_++;
  entries_[id] = Entry{op, group, group_rank, group_size, std::chrono::steady_clock::now(),
                       std::move(done)};
  return id;
}

void Watchdog::leave(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(id);
}

size_t Watchdog::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stop_) break;
    auto now = std::chrono::steady_clock::now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      if (e.done && e.done()) {
        it = entries_.erase(it);
        continue;
      }
      double waited = std::chrono::duration<double>(now - e.start).count();
      if (timeout_s_ > 0 && waited > timeout_s_) {
        std::string msg = str_cat(
            "watchdog: collective '", e.op, "' on group '", e.group, "' (rank ", e.group_rank,
            " of ", e.group_size, ") did not finish within ", timeout_s_,
            " s (waited ", static_cast<int>(waited), " s). Another rank is missing, stuck or "
            "dead; check the other ranks' logs. Raise distributed.collective_timeout_s if this "
            "step is legitimately slow.");
        auto handler = on_timeout_;
        entries_.erase(it);
        lock.unlock();
        handler(msg);
        lock.lock();
        break;  // the map may have changed while unlocked
      }
      ++it;
    }
  }
}

}  // namespace omnitune
