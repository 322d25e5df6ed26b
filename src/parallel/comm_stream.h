// CommStream: an ordered queue of communication work run by one background thread, the CPU
// analogue of a CUDA side stream. FSDP submits its all-gathers and reduce-scatters here so the
// next unit's parameters arrive while the current unit computes (prefetch). Every rank submits
// the same collectives in the same order, so MPI sees one consistent sequence per communicator.
// With async = false, submit() runs the work inline (no overlap: the bench's baseline).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace omnitune {

class CommStream {
 public:
  explicit CommStream(bool async);
  ~CommStream();
  CommStream(const CommStream&) = delete;
  CommStream& operator=(const CommStream&) = delete;

  // Queues fn; the future becomes ready when it has run (get() rethrows its exception).
  std::shared_future<void> submit(std::function<void()> fn);
  // Waits until everything submitted so far has run (rethrows the first failure).
  void synchronize();
  bool async() const { return async_; }

 private:
  void run();

  bool async_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> queue_;
  std::deque<std::shared_future<void>> pending_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace omnitune
