// NcclComm implementation. Each collective: event on the compute stream -> NCCL stream waits ->
// NCCL call -> event on the NCCL stream -> compute stream waits, and a watchdog entry that
// retires when that event completes. The host never blocks except in barrier().
#include "dist/nccl_comm.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <mutex>

#include "core/error.h"
#include "dist/mpi_check.h"
#include "dist/runtime.h"
#include "dist/watchdog.h"

#ifdef OMNITUNE_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

#define CUDA_CHECK(call)                                                                    \
  do {                                                                                      \
    cudaError_t cuda_check_rc_ = (call);                                                    \
    if (cuda_check_rc_ != cudaSuccess)                                                      \
      throw ::omnitune::InternalError(::omnitune::str_cat(                          \
          __FILE__, ":", __LINE__, ": ", #call, " failed: ", cudaGetErrorString(cuda_check_rc_))); \
  } while (0)

#define NCCL_CHECK(call)                                                                    \
  do {                                                                                      \
    ncclResult_t nccl_check_rc_ = (call);                                                   \
    if (nccl_check_rc_ != ncclSuccess)                                                      \
      throw ::omnitune::InternalError(::omnitune::str_cat(                          \
          __FILE__, ":", __LINE__, ": ", #call, " failed: ", ncclGetErrorString(nccl_check_rc_))); \
  } while (0)

namespace omnitune {

struct NcclState {
  std::mutex mu;  // guards comm against destruction while the watchdog polls its error state
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  bool alive = false;
};

namespace {

ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kChar: return ncclInt8;
    case at::kByte:
    case at::kBool: return ncclUint8;
    default: break;
  }
  throw InternalError(str_cat("NcclComm: unsupported dtype ", t));
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Avg: return ncclAvg;
    case ReduceOp::Max: return ncclMax;
    case ReduceOp::Min: return ncclMin;
  }
  return ncclSum;
}

// The stream LibTorch's kernels run on; without a CUDA LibTorch there are no CUDA tensors, and
// the legacy default stream is the one any raw CUDA work would use.
cudaStream_t compute_stream(int device) {
#ifdef OMNITUNE_TORCH_CUDA
  return c10::cuda::getCurrentCUDAStream(device).stream();
#else
  (void)device;
  return cudaStreamLegacy;
#endif
}

uint64_t nbytes(const at::Tensor& t) { return uint64_t(t.numel()) * t.element_size(); }

}  // namespace

std::string NcclComm::version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  return str_cat(v / 10000, ".", (v / 100) % 100, ".", v % 100);
}

namespace {
MPI_Comm dup_comm(MPI_Comm c) {
  MPI_Comm d;
  MPI_CHECK(MPI_Comm_dup(c, &d));
  return d;
}
}  // namespace

NcclComm::NcclComm(MPI_Comm mpi, std::string name, int device)
    : NcclComm(dup_comm(mpi), std::move(name), device, true) {}

NcclComm::NcclComm(MPI_Comm dup, std::string name, int device, bool /*owned_dup*/)
    : Comm(mpi_comm_rank(dup), mpi_comm_size(dup), std::move(name)),
      mpi_(dup),
      device_(device),
      state_(std::make_shared<NcclState>()) {
  const int r = rank(), s = size();
  CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id;
  if (r == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, mpi_));
  {
    WatchdogScope wd("ncclCommInitRank", this->name(), r, s);
    NCCL_CHECK(ncclCommInitRank(&state_->comm, s, id, r));
  }
  CUDA_CHECK(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking));
  state_->alive = true;
}

NcclComm::~NcclComm() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->alive) {
      cudaSetDevice(device_);
      cudaStreamSynchronize(state_->stream);
      ncclCommDestroy(state_->comm);
      cudaStreamDestroy(state_->stream);
      state_->alive = false;
    }
  }
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Comm_free(&mpi_);
}

namespace {

// Orders `launch` between the compute stream and the NCCL stream and registers it with the
// watchdog; `what` names the collective in watchdog and error messages.
template <typename Launch>
void enqueue(const std::shared_ptr<NcclState>& st, int device, const std::string& what,
             const std::string& group, int rank, int size, Launch launch) {
  CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t compute = compute_stream(device);
  cudaEvent_t ready, done;
  CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventRecord(ready, compute));
  CUDA_CHECK(cudaStreamWaitEvent(st->stream, ready, 0));
  NCCL_CHECK(launch(st->comm, st->stream));
  CUDA_CHECK(cudaEventRecord(done, st->stream));
  CUDA_CHECK(cudaStreamWaitEvent(compute, done, 0));
  CUDA_CHECK(cudaEventDestroy(ready));  // released once its record completes
  auto ev = std::shared_ptr<void>(static_cast<void*>(done), [](void* e) {
    cudaEventDestroy(static_cast<cudaEvent_t>(e));
  });
  std::string group_name = group;
  Watchdog::instance().enter(what, group, rank, size, [st, ev, what, group_name, rank]() {
    cudaError_t q = cudaEventQuery(static_cast<cudaEvent_t>(ev.get()));
    if (q == cudaSuccess) return true;
    if (q != cudaErrorNotReady) {
      fatal_abort(str_cat("CUDA error while '", what, "' ran on group '", group_name,
                                  "': ", cudaGetErrorString(q)));
    }
    std::lock_guard<std::mutex> lock(st->mu);
    if (!st->alive) return true;
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(st->comm, &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      ncclCommAbort(st->comm);
      st->alive = false;
      fatal_abort(str_cat("NCCL error during '", what, "' on group '", group_name,
                                  "' (rank ", rank, "): ", ncclGetErrorString(async)));
    }
    return false;
  });
}

void check_cuda_tensor(const at::Tensor& t, int device, const char* op) {
  comm_check_tensor(t, op);
  OT_CHECK(t.is_cuda() && t.device().index() == device, op, ": NcclComm on cuda:", device,
           " needs tensors on that device (got ", t.device(), ")");
}

std::string describe(const char* op, const at::Tensor& t) {
  return str_cat(op, "(", t.scalar_type(), ", ", t.numel(), " elements)");
}

}  // namespace

// Host tensors (the trainer's control values: token counts, stop flags, checkpoint digests) go
// through the device: NCCL reads and writes device memory only. `dev` is the device copy the
// collective runs on; `finish` copies results back into host outputs (the copy waits for the
// collective, which enqueue ordered before LibTorch's current stream).
at::Tensor NcclComm::staged(const at::Tensor& t, bool copy_in) const {
  if (t.is_cuda()) return t;
  comm_check_tensor(t, "NcclComm (host tensor)");
  const at::Device dev(at::kCUDA, static_cast<c10::DeviceIndex>(device_));
  return copy_in ? t.to(dev) : at::empty(t.sizes(), t.options().device(dev));
}

void NcclComm::all_reduce(const at::Tensor& t, ReduceOp op) {
  if (!t.is_cuda()) {
    at::Tensor d = staged(t, true);
    all_reduce(d, op);
    t.copy_(d);
    return;
  }
  check_cuda_tensor(t, device_, "all_reduce");
  OT_CHECK(op != ReduceOp::Avg || at::isFloatingType(t.scalar_type()), "Avg needs a float dtype");
  void* p = t.data_ptr();
  size_t n = t.numel();
  ncclDataType_t dt = nccl_type(t.scalar_type());
  enqueue(state_, device_, describe("all_reduce", t), name(), rank(), size(),
          [&](ncclComm_t c, cudaStream_t s) { return ncclAllReduce(p, p, n, dt, nccl_op(op), c, s); });
  count(CommOp::AllReduce, nbytes(t));
}

void NcclComm::all_gather(const at::Tensor& in, const at::Tensor& out) {
  if (!in.is_cuda() || !out.is_cuda()) {
    at::Tensor o = staged(out, false);
    all_gather(staged(in, true), o);
    if (!out.is_cuda()) out.copy_(o);
    return;
  }
  comm_check_gather(in, out, size(), "all_gather");
  check_cuda_tensor(in, device_, "all_gather");
  OT_CHECK(out.numel() == in.numel() * size(), "all_gather: out has ", out.numel(),
           " elements, expected ", in.numel(), " x ", size());
  enqueue(state_, device_, describe("all_gather", in), name(), rank(), size(),
          [&](ncclComm_t c, cudaStream_t s) {
            return ncclAllGather(in.data_ptr(), out.data_ptr(), in.numel(),
                                 nccl_type(in.scalar_type()), c, s);
          });
  count(CommOp::AllGather, nbytes(out));
}

void NcclComm::reduce_scatter(const at::Tensor& in, const at::Tensor& out, ReduceOp op) {
  if (!in.is_cuda() || !out.is_cuda()) {
    at::Tensor o = staged(out, false);
    reduce_scatter(staged(in, true), o, op);
    if (!out.is_cuda()) out.copy_(o);
    return;
  }
  comm_check_gather(in, out, size(), "reduce_scatter");
  check_cuda_tensor(in, device_, "reduce_scatter");
  OT_CHECK(in.numel() == out.numel() * size(), "reduce_scatter: in has ", in.numel(),
           " elements, expected ", out.numel(), " x ", size());
  enqueue(state_, device_, describe("reduce_scatter", in), name(), rank(), size(),
          [&](ncclComm_t c, cudaStream_t s) {
            return ncclReduceScatter(in.data_ptr(), out.data_ptr(), out.numel(),
                                     nccl_type(in.scalar_type()), nccl_op(op), c, s);
          });
  count(CommOp::ReduceScatter, nbytes(in));
}

void NcclComm::broadcast(const at::Tensor& t, int root) {
  if (!t.is_cuda()) {
    at::Tensor d = staged(t, true);
    broadcast(d, root);
    t.copy_(d);
    return;
  }
  check_cuda_tensor(t, device_, "broadcast");
  enqueue(state_, device_, describe("broadcast", t), name(), rank(), size(),
          [&](ncclComm_t c, cudaStream_t s) {
            return ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(),
                                 nccl_type(t.scalar_type()), root, c, s);
          });
  count(CommOp::Broadcast, nbytes(t));
}

void NcclComm::barrier() {
  // A one-element all-reduce, then wait for it on the host: what the callers of barrier expect.
  CUDA_CHECK(cudaSetDevice(device_));
  float* buf = nullptr;
  CUDA_CHECK(cudaMalloc(&buf, sizeof(float)));
  {
    WatchdogScope wd("barrier", name(), rank(), size());
    NCCL_CHECK(ncclAllReduce(buf, buf, 1, ncclFloat32, ncclSum, state_->comm, state_->stream));
    CUDA_CHECK(cudaStreamSynchronize(state_->stream));
  }
  CUDA_CHECK(cudaFree(buf));
  count(CommOp::Barrier, 0);
}

void NcclComm::send(const at::Tensor& t, int dst) {
  if (!t.is_cuda()) return send(staged(t, true), dst);
  check_cuda_tensor(t, device_, "send");
  enqueue(state_, device_, str_cat(describe("send", t), " to ", dst), name(), rank(),
          size(), [&](ncclComm_t c, cudaStream_t s) {
            return ncclSend(t.data_ptr(), t.numel(), nccl_type(t.scalar_type()), dst, c, s);
          });
  count(CommOp::Send, nbytes(t));
}

void NcclComm::recv(const at::Tensor& t, int src) {
  if (!t.is_cuda()) {
    at::Tensor d = staged(t, false);
    recv(d, src);
    t.copy_(d);
    return;
  }
  check_cuda_tensor(t, device_, "recv");
  enqueue(state_, device_, str_cat(describe("recv", t), " from ", src), name(), rank(),
          size(), [&](ncclComm_t c, cudaStream_t s) {
            return ncclRecv(t.data_ptr(), t.numel(), nccl_type(t.scalar_type()), src, c, s);
          });
  count(CommOp::Recv, nbytes(t));
}

std::unique_ptr<Comm> NcclComm::split(int color, int key, const std::string& name) {
  MPI_Comm sub;
  MPI_CHECK(MPI_Comm_split(mpi_, color, key, &sub));
  auto out = std::make_unique<NcclComm>(sub, name, device_);
  MPI_CHECK(MPI_Comm_free(&sub));  // NcclComm keeps its own duplicate
  return out;
}

}  // namespace omnitune
