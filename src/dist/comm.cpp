// Comm base: names, byte counters and the argument checks every backend shares.
#include "dist/comm.h"

#include "core/error.h"

namespace omnitune {

const char* comm_op_name(CommOp op) {
  switch (op) {
    case CommOp::AllReduce: return "all_reduce";
    case CommOp::AllGather: return "all_gather";
    case CommOp::ReduceScatter: return "reduce_scatter";
    case CommOp::Broadcast: return "broadcast";
    case CommOp::Barrier: return "barrier";
    case CommOp::Send: return "send";
    case CommOp::Recv: return "recv";
    case CommOp::Count: break;
  }
  return "?";
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "?";
}

uint64_t CommStats::total_bytes() const {
  uint64_t t = 0;
  for (auto b : bytes) t += b;
  return t;
}

void Comm::count(CommOp op, uint64_t bytes) {
  stats_.bytes[static_cast<size_t>(op)] += bytes;
  stats_.calls[static_cast<size_t>(op)] += 1;
}

void comm_check_tensor(const at::Tensor& t, const char* op) {
  OT_CHECK(t.defined(), op, ": undefined tensor");
  OT_CHECK(t.is_contiguous(), op, ": tensor must be contiguous (got strides ", t.strides(), ")");
}

void comm_check_gather(const at::Tensor& in, const at::Tensor& out, int size, const char* op) {
  comm_check_tensor(in, op);
  comm_check_tensor(out, op);
  OT_CHECK(in.scalar_type() == out.scalar_type(), op, ": dtype mismatch ", in.scalar_type(),
           " vs ", out.scalar_type());
  OT_CHECK(in.device() == out.device(), op, ": device mismatch");
}

}  // namespace omnitune
