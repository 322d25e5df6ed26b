// Collective watchdog: a background thread that watches every collective in flight and, when one
// runs longer than the timeout, ends the job with a message naming the op, the group, the rank
// and how long it waited, instead of a silent hang until the scheduler's time limit. One per
// process, shared by every communicator.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace omnitune {

class Watchdog {
 public:
  // The process-wide watchdog (its thread starts on first use).
  static Watchdog& instance();

  // Collectives running longer than this abort the job. <= 0 disables the watchdog.
  void set_timeout(double seconds);
  double timeout() const;

  // What happens on timeout (default: fatal_abort with the message). Tests replace it.
  void set_on_timeout(std::function<void(const std::string&)> handler);

  // Registers a collective. `done`, if given, is polled by the watchdog thread and the entry
  // retires itself when it returns true (asynchronous GPU collectives); otherwise the caller
  // calls leave(). Returns an id for leave().
  uint64_t enter(const std::string& op, const std::string& group, int group_rank, int group_size,
                 std::function<bool()> done = nullptr);
  void leave(uint64_t id);

  // Number of collectives currently registered (tests).
  size_t in_flight() const;

  ~Watchdog();

 private:
  Watchdog();
  void run();

  struct Entry {
    std::string op, group;
    int group_rank = 0, group_size = 0;
    std::chrono::steady_clock::time_point start;
    std::function<bool()> done;
  };

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  double timeout_s_ = 600;
  bool stop_ = false;
  std::function<void(const std::string&)> on_timeout_;
  std::thread thread_;
};

// RAII registration of a blocking collective.
class WatchdogScope {
 public:
  WatchdogScope(const std::string& op, const std::string& group, int group_rank, int group_size)
      : id_(Watchdog::instance().enter(op, group, group_rank, group_size)) {}
  ~WatchdogScope() { Watchdog::instance().leave(id_); }
  WatchdogScope(const WatchdogScope&) = delete;
  WatchdogScope& operator=(const WatchdogScope&) = delete;

 private:
  uint64_t id_;
};

}  // namespace omnitune
