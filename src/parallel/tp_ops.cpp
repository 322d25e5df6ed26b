// tp_copy / tp_reduce as torch::autograd::Function subclasses. The Comm pointer travels in the
// context as an integer (IValue has no raw-pointer type); it outlives every graph it appears in.
#include "parallel/tp_ops.h"

#include <torch/csrc/autograd/custom_function.h>

namespace omnitune {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Comm* comm_of(AutogradContext* ctx) {
  return reinterpret_cast<Comm*>(static_cast<intptr_t>(ctx->saved_data["comm"].toInt()));
}

// All-reduce of a fresh contiguous copy (the input may be a view shared with the graph).
at::Tensor all_reduced(const at::Tensor& t, Comm* comm) {
  at::Tensor out = t.contiguous().clone();
  comm->all_reduce(out, ReduceOp::Sum);
  return out;
}

struct CopyToTp : public torch::autograd::Function<CopyToTp> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {all_reduced(grads[0], comm_of(ctx)), at::Tensor()};
  }
};

struct ReduceFromTp : public torch::autograd::Function<ReduceFromTp> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t comm) {
    (void)ctx;
    return all_reduced(x, reinterpret_cast<Comm*>(static_cast<intptr_t>(comm)));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    (void)ctx;
    return {grads[0], at::Tensor()};
  }
};

struct SumOverTp : public torch::autograd::Function<SumOverTp> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return all_reduced(x, reinterpret_cast<Comm*>(static_cast<intptr_t>(comm)));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {all_reduced(grads[0], comm_of(ctx)), at::Tensor()};
  }
};

bool active(Comm* tp) { return tp != nullptr && tp->size() > 1; }

}  // namespace

at::Tensor tp_copy(const at::Tensor& x, Comm* tp) {
  if (!active(tp)) return x;
  return CopyToTp::apply(x, static_cast<int64_t>(reinterpret_cast<intptr_t>(tp)));
}

at::Tensor tp_reduce(const at::Tensor& x, Comm* tp) {
  if (!active(tp)) return x;
  return ReduceFromTp::apply(x, static_cast<int64_t>(reinterpret_cast<intptr_t>(tp)));
}

at::Tensor tp_sum(const at::Tensor& x, Comm* tp) {
  if (!active(tp)) return x;
  return SumOverTp::apply(x, static_cast<int64_t>(reinterpret_cast<intptr_t>(tp)));
}

}  // namespace omnitune
