// NcclComm: Comm over NCCL for CUDA tensors. Bootstrapped over MPI (rank 0 creates the
// ncclUniqueId and broadcasts it), runs on its own CUDA stream ordered after LibTorch's current
// stream by an event (and the compute stream waits for the result the same way, so callers see
// ordinary stream semantics), and checks NCCL's asynchronous errors from the watchdog thread.
// Host (CPU) tensors are accepted too and staged through the device: the trainer's small control
// values (token counts, stop flags, digests) use the same world communicator as the gradients.
// Compiled whenever the CUDA toolkit and NCCL are found (OMNITUNE_HAVE_NCCL).
#pragma once

#include <mpi.h>

#include <memory>

#include "dist/comm.h"

namespace omnitune {

struct NcclState;  // the NCCL communicator and stream, shared with in-flight watchdog entries

class NcclComm : public Comm {
 public:
  // Collective over `mpi`, which this object duplicates (the copy bootstraps sub-communicators).
  NcclComm(MPI_Comm mpi, std::string name, int device);
  ~NcclComm() override;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  const char* backend() const override { return "nccl"; }
  int device() const { return device_; }

  void all_reduce(const at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void all_gather(const at::Tensor& in, const at::Tensor& out) override;
  void reduce_scatter(const at::Tensor& in, const at::Tensor& out,
                      ReduceOp op = ReduceOp::Sum) override;
  void broadcast(const at::Tensor& t, int root) override;
  void barrier() override;
  void send(const at::Tensor& t, int dst) override;
  void recv(const at::Tensor& t, int src) override;
  std::unique_ptr<Comm> split(int color, int key, const std::string& name) override;

  // NCCL's version as "2.28.9" (runtime library, not headers).
  static std::string version();

 private:
  // Takes ownership of `dup`, a duplicate made by the public constructor.
  NcclComm(MPI_Comm dup, std::string name, int device, bool owned_dup);

  MPI_Comm mpi_;
  // `t` itself when it is on the device, else a device copy (of its values when copy_in).
  at::Tensor staged(const at::Tensor& t, bool copy_in) const;

  int device_;
  std::shared_ptr<NcclState> state_;
};

}  // namespace omnitune
