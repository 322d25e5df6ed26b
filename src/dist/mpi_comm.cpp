// MpiComm implementation. Counts above INT_MAX elements are split into chunks for the in-place
// ops (MPI counts are ints); gathers and scatters of that size are refused with a clear check,
// since FSDP units are far smaller.
#include "dist/mpi_comm.h"

#include <climits>

#include "core/error.h"
#include "dist/mpi_check.h"
#include "dist/watchdog.h"

namespace omnitune {
namespace {

constexpr int64_t kMaxChunk = int64_t(1) << 30;  // elements per MPI call

bool is_half(at::ScalarType t) { return t == at::kHalf || t == at::kBFloat16; }

// MPI datatype with the same bytes as `t`; 16-bit floats map to MPI_UINT16_T (move only).
MPI_Datatype mpi_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    case at::kShort: return MPI_INT16_T;
    case at::kChar: return MPI_INT8_T;
    case at::kByte: return MPI_UINT8_T;
    case at::kBool: return MPI_UINT8_T;  // max/min on 0/1 bytes = logical or/and
    case at::kHalf:
    case at::kBFloat16: return MPI_UINT16_T;
    default: break;
  }
  throw InternalError(str_cat("MpiComm: unsupported dtype ", t));
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
    case ReduceOp::Min: return MPI_MIN;
  }
  return MPI_SUM;
}

uint64_t nbytes(const at::Tensor& t) { return uint64_t(t.numel()) * t.element_size(); }

void check_cpu(const at::Tensor& t, const char* op) {
  comm_check_tensor(t, op);
  OT_CHECK(t.device().is_cpu(), op, ": MpiComm needs CPU tensors (got ", t.device(),
           "); use the nccl backend for CUDA tensors");
}

void check_avg(const at::Tensor& t, ReduceOp op) {
  OT_CHECK(op != ReduceOp::Avg || at::isFloatingType(t.scalar_type()),
           "ReduceOp::Avg needs a floating dtype, got ", t.scalar_type());
}

std::string describe(const char* op, const at::Tensor& t) {
  return str_cat(op, "(", t.scalar_type(), ", ", t.numel(), " elements)");
}

}  // namespace

std::unique_ptr<MpiComm> MpiComm::world(const std::string& name) {
  MPI_Comm dup;
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup));
  return std::make_unique<MpiComm>(dup, name, true);
}

MpiComm::MpiComm(MPI_Comm comm, std::string name, bool owned)
    : Comm(mpi_comm_rank(comm), mpi_comm_size(comm), std::move(name)), comm_(comm), owned_(owned) {}

MpiComm::~MpiComm() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (owned_ && !fin) MPI_Comm_free(&comm_);
}

void MpiComm::reduce_native(const at::Tensor& t, ReduceOp op) {
  MPI_Datatype dt = mpi_type(t.scalar_type());
  char* p = static_cast<char*>(t.data_ptr());
  const int64_t n = t.numel();
  for (int64_t off = 0; off < n; off += kMaxChunk) {
    int cnt = static_cast<int>(std::min(kMaxChunk, n - off));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + off * t.element_size(), cnt, dt, mpi_op(op), comm_));
  }
  if (op == ReduceOp::Avg) t.div_(size());
}

void MpiComm::all_reduce(const at::Tensor& t, ReduceOp op) {
  check_cpu(t, "all_reduce");
  check_avg(t, op);
  WatchdogScope wd(describe("all_reduce", t), name(), rank(), size());
  if (is_half(t.scalar_type())) {
    at::Tensor wide = t.to(at::kFloat);
    reduce_native(wide, op);
    t.copy_(wide);
  } else {
    reduce_native(t, op);
  }
  count(CommOp::AllReduce, nbytes(t));
}

void MpiComm::all_gather(const at::Tensor& in, const at::Tensor& out) {
  comm_check_gather(in, out, size(), "all_gather");
  check_cpu(in, "all_gather");
  OT_CHECK(out.numel() == in.numel() * size(), "all_gather: out has ", out.numel(),
           " elements, expected ", in.numel(), " x ", size());
  OT_CHECK(in.numel() <= INT_MAX, "all_gather: ", in.numel(), " elements per rank exceeds INT_MAX");
  WatchdogScope wd(describe("all_gather", in), name(), rank(), size());
  MPI_Datatype dt = mpi_type(in.scalar_type());
  int n = static_cast<int>(in.numel());
  MPI_CHECK(MPI_Allgather(in.data_ptr(), n, dt, out.data_ptr(), n, dt, comm_));
  count(CommOp::AllGather, nbytes(out));
}

void MpiComm::reduce_scatter_native(const at::Tensor& in, const at::Tensor& out, ReduceOp op) {
  MPI_Datatype dt = mpi_type(in.scalar_type());
  int n = static_cast<int>(out.numel());
  MPI_CHECK(MPI_Reduce_scatter_block(in.data_ptr(), out.data_ptr(), n, dt, mpi_op(op), comm_));
  if (op == ReduceOp::Avg) out.div_(size());
}

void MpiComm::reduce_scatter(const at::Tensor& in, const at::Tensor& out, ReduceOp op) {
  comm_check_gather(in, out, size(), "reduce_scatter");
  check_cpu(in, "reduce_scatter");
  check_avg(in, op);
  OT_CHECK(in.numel() == out.numel() * size(), "reduce_scatter: in has ", in.numel(),
           " elements, expected ", out.numel(), " x ", size());
  OT_CHECK(out.numel() <= INT_MAX, "reduce_scatter: ", out.numel(), " elements per rank exceeds INT_MAX");
  WatchdogScope wd(describe("reduce_scatter", in), name(), rank(), size());
  if (is_half(in.scalar_type())) {
    at::Tensor wide_out = at::empty({out.numel()}, out.options().dtype(at::kFloat));
    reduce_scatter_native(in.to(at::kFloat), wide_out, op);
    out.view({-1}).copy_(wide_out);
  } else {
    reduce_scatter_native(in, out, op);
  }
  count(CommOp::ReduceScatter, nbytes(in));
}

void MpiComm::broadcast(const at::Tensor& t, int root) {
  check_cpu(t, "broadcast");
  OT_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " outside group of ", size());
  WatchdogScope wd(describe("broadcast", t), name(), rank(), size());
  MPI_Datatype dt = mpi_type(t.scalar_type());
  char* p = static_cast<char*>(t.data_ptr());
  const int64_t n = t.numel();
  for (int64_t off = 0; off < n; off += kMaxChunk) {
    int cnt = static_cast<int>(std::min(kMaxChunk, n - off));
    MPI_CHECK(MPI_Bcast(p + off * t.element_size(), cnt, dt, root, comm_));
  }
  count(CommOp::Broadcast, nbytes(t));
}

void MpiComm::barrier() {
  WatchdogScope wd("barrier", name(), rank(), size());
  MPI_CHECK(MPI_Barrier(comm_));
  count(CommOp::Barrier, 0);
}

void MpiComm::send(const at::Tensor& t, int dst) {
  check_cpu(t, "send");
  OT_CHECK(t.numel() <= INT_MAX, "send: too many elements");
  WatchdogScope wd(str_cat(describe("send", t), " to ", dst), name(), rank(), size());
  MPI_CHECK(MPI_Send(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t.scalar_type()), dst,
                     0, comm_));
  count(CommOp::Send, nbytes(t));
}

void MpiComm::recv(const at::Tensor& t, int src) {
  check_cpu(t, "recv");
  OT_CHECK(t.numel() <= INT_MAX, "recv: too many elements");
  WatchdogScope wd(str_cat(describe("recv", t), " from ", src), name(), rank(), size());
  MPI_CHECK(MPI_Recv(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t.scalar_type()), src,
                     0, comm_, MPI_STATUS_IGNORE));
  count(CommOp::Recv, nbytes(t));
}

std::unique_ptr<Comm> MpiComm::split(int color, int key, const std::string& name) {
  WatchdogScope wd("split", this->name(), rank(), size());
  MPI_Comm sub;
  MPI_CHECK(MPI_Comm_split(comm_, color, key, &sub));
  return std::make_unique<MpiComm>(sub, name, true);
}

}  // namespace omnitune
