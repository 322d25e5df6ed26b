// Vocab-parallel CE: with m = max over the whole row (all-reduce max) and S = sum exp(z - m)
// (all-reduce sum), loss = log S - (z_target - m), where z_target lives on exactly one rank
// (all-reduce sum of a one-hot pick). Gradient: softmax_local - onehot_local, times the
// incoming per-token gradient.
#include "parallel/vocab_parallel.h"

#include <torch/csrc/autograd/custom_function.h>

#include "parallel/tp_ops.h"

namespace omnitune {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kIgnore = -100;

void tp_all_reduce(const at::Tensor& t, ReduceOp op, Comm* tp) {
  if (tp != nullptr && tp->size() > 1) tp->all_reduce(t, op);
}

struct VocabParallelCE : public torch::autograd::Function<VocabParallelCE> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits_local, const at::Tensor& targets,
                            int64_t vocab_start, int64_t comm) {
    Comm* tp = reinterpret_cast<Comm*>(static_cast<intptr_t>(comm));
    at::Tensor z = logits_local.to(at::kFloat);
    const int64_t v_local = z.size(-1);
    at::Tensor m = std::get<0>(z.max(-1)).contiguous();
    tp_all_reduce(m, ReduceOp::Max, tp);
    at::Tensor e = (z - m.unsqueeze(-1)).exp_();
    at::Tensor s = e.sum(-1).contiguous();
    tp_all_reduce(s, ReduceOp::Sum, tp);

    at::Tensor local_t = targets - vocab_start;
    at::Tensor mine = (local_t >= 0) & (local_t < v_local) & (targets != kIgnore);
    at::Tensor idx = at::where(mine, local_t, at::zeros_like(local_t));
    at::Tensor picked = z.gather(-1, idx.unsqueeze(-1)).squeeze(-1) - m;
    picked = at::where(mine, picked, at::zeros_like(picked)).contiguous();
    tp_all_reduce(picked, ReduceOp::Sum, tp);

    at::Tensor valid = targets != kIgnore;
    at::Tensor loss = at::where(valid, s.log() - picked, at::zeros_like(picked));
    e.div_(s.unsqueeze(-1));  // softmax of the local columns, kept for backward
    ctx->save_for_backward({e, idx, mine, valid});
    ctx->saved_data["dtype"] = static_cast<int64_t>(logits_local.scalar_type());
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor g = saved[0].clone();  // softmax
    const at::Tensor& idx = saved[1];
    const at::Tensor& mine = saved[2];
    const at::Tensor& valid = saved[3];
    g.scatter_add_(-1, idx.unsqueeze(-1), -mine.to(g.scalar_type()).unsqueeze(-1));
    at::Tensor scale = (grads[0] * valid.to(grads[0].scalar_type())).unsqueeze(-1);
    g.mul_(scale);
    auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {g.to(dtype), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor vocab_parallel_embedding(const at::Tensor& table_local, const at::Tensor& ids, int64_t vocab_start,
                                    Comm* tp) {
  if (tp == nullptr || tp->size() == 1) return at::embedding(table_local, ids);
  const int64_t v_local = table_local.size(0);
  at::Tensor local = ids - vocab_start;
  at::Tensor mine = (local >= 0) & (local < v_local);
  at::Tensor e = at::embedding(table_local, at::where(mine, local, at::zeros_like(local)));
  e = e * mine.unsqueeze(-1).to(e.scalar_type());
  return tp_reduce(e, tp);
}

at::Tensor vocab_parallel_cross_entropy(const at::Tensor& logits_local, const at::Tensor& targets,
                                        int64_t vocab_start, Comm* tp) {
  return VocabParallelCE::apply(logits_local, targets, vocab_start,
                                static_cast<int64_t>(reinterpret_cast<intptr_t>(tp)));
}

}  // namespace omnitune
