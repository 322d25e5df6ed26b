#include "parallel/comm_stream.h"

namespace omnitune {

CommStream::CommStream(bool async) : async_(async) {
  if (async_) thread_ = std::thread([this] { run(); });
}

CommStream::~CommStream() {
  if (!async_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_future<void> CommStream::submit(std::function<void()> fn) {
  std::packaged_task<void()> task(std::move(fn));
  std::shared_future<void> done = task.get_future().share();
  if (!async_) {
    task();
    return done;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
    pending_.push_back(done);
  }
  cv_.notify_all();
  return done;
}

void CommStream::synchronize() {
  std::deque<std::shared_future<void>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending.swap(pending_);
  }
  for (auto& f : pending) f.get();
}

void CommStream::run() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();  // exceptions land in the task's future
  }
}

}  // namespace omnitune
