// Comm: the one interface through which omnitune communicates (DESIGN.md §4). Tensors in, tensors
// out; MpiComm moves CPU tensors, NcclComm CUDA tensors. Every collective counts the bytes it
// moved per op so tests can compare FSDP traffic with theory, and runs under the watchdog.
//
// Byte accounting (logical payload, independent of the algorithm the library picks):
//   all_reduce, broadcast, send, recv: the tensor's bytes; all_gather: the gathered output's
//   bytes; reduce_scatter: the full input's bytes; barrier: 0 bytes (calls are counted).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace omnitune {

enum class ReduceOp { Sum, Avg, Max, Min };

enum class CommOp { AllReduce = 0, AllGather, ReduceScatter, Broadcast, Barrier, Send, Recv, Count };

const char* comm_op_name(CommOp op);
const char* reduce_op_name(ReduceOp op);

struct CommStats {
  std::array<uint64_t, static_cast<size_t>(CommOp::Count)> bytes{};
  std::array<uint64_t, static_cast<size_t>(CommOp::Count)> calls{};

  uint64_t bytes_of(CommOp op) const { return bytes[static_cast<size_t>(op)]; }
  uint64_t calls_of(CommOp op) const { return calls[static_cast<size_t>(op)]; }
  uint64_t total_bytes() const;
};

class Comm {
 public:
  virtual ~Comm() = default;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Group name used in logs and watchdog messages ("world", "dp", "tp").
  const std::string& name() const { return name_; }
  // "mpi" or "nccl".
  virtual const char* backend() const = 0;

  // In place on every rank. Avg divides the sum by size() (floating dtypes only).
  virtual void all_reduce(const at::Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // out.numel() == size() * in.numel(); rank r's `in` lands in out's flat elements
  // [r*n, (r+1)*n). Same dtype for in and out.
  virtual void all_gather(const at::Tensor& in, const at::Tensor& out) = 0;
  // in.numel() == size() * out.numel(); rank r receives the reduction of in's flat chunk r.
  virtual void reduce_scatter(const at::Tensor& in, const at::Tensor& out,
                              ReduceOp op = ReduceOp::Sum) = 0;
  // In place: every rank ends with root's values.
  virtual void broadcast(const at::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  virtual void send(const at::Tensor& t, int dst) = 0;
  virtual void recv(const at::Tensor& t, int src) = 0;

  // A sub-communicator of the ranks that pass the same color, ordered by key (collective over
  // this comm). Used by DeviceMesh for the DP and TP groups.
  virtual std::unique_ptr<Comm> split(int color, int key, const std::string& name) = 0;

  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = CommStats{}; }

 protected:
  Comm(int rank, int size, std::string name) : rank_(rank), size_(size), name_(std::move(name)) {}
  void count(CommOp op, uint64_t bytes);

 private:
  int rank_;
  int size_;
  std::string name_;
  CommStats stats_;
};

// Shape checks shared by the backends (throw InternalError naming the op and the sizes).
void comm_check_tensor(const at::Tensor& t, const char* op);
void comm_check_gather(const at::Tensor& in, const at::Tensor& out, int size, const char* op);

}  // namespace omnitune
