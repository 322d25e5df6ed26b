// MpiComm: Comm over MPI for CPU tensors. MPI has no 16-bit float types, so bf16/fp16 reductions
// run in fp32 (one rounding at the end, more accurate than reducing pairwise in 16 bits) while
// pure data movement (gather, broadcast, send) ships the 2-byte values as they are.
#pragma once

#include <mpi.h>

#include "dist/comm.h"

namespace omnitune {

class MpiComm : public Comm {
 public:
  // A duplicate of MPI_COMM_WORLD, so omnitune's traffic never mixes with other MPI users.
  static std::unique_ptr<MpiComm> world(const std::string& name = "world");

  // Wraps `comm`; frees it on destruction when `owned`.
  MpiComm(MPI_Comm comm, std::string name, bool owned);
  ~MpiComm() override;
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  const char* backend() const override { return "mpi"; }
  MPI_Comm native() const { return comm_; }

  void all_reduce(const at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void all_gather(const at::Tensor& in, const at::Tensor& out) override;
  void reduce_scatter(const at::Tensor& in, const at::Tensor& out,
                      ReduceOp op = ReduceOp::Sum) override;
  void broadcast(const at::Tensor& t, int root) override;
  void barrier() override;
  void send(const at::Tensor& t, int dst) override;
  void recv(const at::Tensor& t, int src) override;
  std::unique_ptr<Comm> split(int color, int key, const std::string& name) override;

 private:
  void reduce_native(const at::Tensor& t, ReduceOp op);
  void reduce_scatter_native(const at::Tensor& in, const at::Tensor& out, ReduceOp op);

  MPI_Comm comm_;
  bool owned_;
};

}  // namespace omnitune
