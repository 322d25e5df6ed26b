#include "parallel/sharded_adamw.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

#include "core/error.h"

namespace omnitune {

ShardedAdamW::ShardedAdamW(std::vector<FlatGroup*> groups, ShardComms comms, AdamWOptions opt)
    : groups_(std::move(groups)), comms_(comms), opt_(opt) {
  for (auto* g : groups_) OT_CHECK(g->trainable(), "optimizer given frozen group ", g->name());
}

double ShardedAdamW::grad_norm() const {
  at::NoGradGuard no_grad;
  // [sum of squares over TP-sharded params, over replicated params], in fp64 for a stable sum.
  // fp64 where the device has it; the collectives need the tensor on the shards' device.
  const at::Device dev = groups_.empty() ? at::Device(at::kCPU) : groups_[0]->grad.device();
  at::Tensor sq = at::zeros({2}, at::TensorOptions().dtype(at::kDouble).device(dev));
  for (auto* g : groups_) {
    for (const auto& p : g->params()) {
      auto [b, e] = g->shard_range(p);
      if (e <= b) continue;
      at::Tensor part = g->grad.narrow(0, b, e - b).to(at::kDouble);
      sq[p.tp_sharded ? 0 : 1] += part.dot(part);
    }
  }
  comms_.shard->all_reduce(sq, ReduceOp::Sum);
  if (comms_.tp && comms_.tp->size() > 1) {
    at::Tensor sharded = sq.narrow(0, 0, 1).clone();
    comms_.tp->all_reduce(sharded, ReduceOp::Sum);
    sq[0] = sharded[0];
  }
  return std::sqrt(sq.sum().item<double>());
}

std::vector<double> ShardedAdamW::group_grad_norms() const {
  at::NoGradGuard no_grad;
  const int64_t n = int64_t(groups_.size());
  if (n == 0) return {};
  // Row g: [sum of squares over TP-sharded params, over replicated params] of group g.
  at::Tensor sq = at::zeros({n, 2}, at::TensorOptions().dtype(at::kDouble).device(groups_[0]->grad.device()));
  for (int64_t i = 0; i < n; ++i) {
    const FlatGroup* g = groups_[size_t(i)];
    for (const auto& p : g->params()) {
      auto [b, e] = g->shard_range(p);
      if (e <= b) continue;
      at::Tensor part = g->grad.narrow(0, b, e - b).to(at::kDouble);
      sq[i][p.tp_sharded ? 0 : 1] += part.dot(part);
    }
  }
  comms_.shard->all_reduce(sq, ReduceOp::Sum);
  if (comms_.tp && comms_.tp->size() > 1) {
    at::Tensor sharded = sq.select(1, 0).contiguous();
    comms_.tp->all_reduce(sharded, ReduceOp::Sum);
    sq.select(1, 0).copy_(sharded);
  }
  at::Tensor norms = sq.sum(1).sqrt().cpu();
  return std::vector<double>(norms.data_ptr<double>(), norms.data_ptr<double>() + n);
}

StepReport ShardedAdamW::step(double lr) {
  at::NoGradGuard no_grad;
  StepReport r;
  r.grad_norm = grad_norm();
  r.finite = std::isfinite(r.grad_norm);
  if (!r.finite) {
    for (auto* g : groups_) g->zero_grad();
    return r;
  }
  double clip = 1.0;
  if (opt_.max_grad_norm > 0 && r.grad_norm > opt_.max_grad_norm) clip = opt_.max_grad_norm / (r.grad_norm + 1e-6);
  ++step_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(step_));
  const double step_size = lr / bc1;
  for (auto* g : groups_) {
    if (clip != 1.0) g->grad.mul_(clip);
    g->exp_avg.mul_(opt_.beta1).add_(g->grad, 1.0 - opt_.beta1);
    g->exp_avg_sq.mul_(opt_.beta2).addcmul_(g->grad, g->grad, 1.0 - opt_.beta2);
    // Decoupled decay on the segments that decay (before the Adam update, as torch.optim.AdamW).
    if (opt_.weight_decay != 0) {
      for (const auto& p : g->params()) {
        if (!p.decay) continue;
        auto [b, e] = g->shard_range(p);
        if (e > b) g->shard.narrow(0, b, e - b).mul_(1.0 - lr * opt_.weight_decay);
      }
    }
    at::Tensor denom = (g->exp_avg_sq / bc2).sqrt_().add_(opt_.eps);
    g->shard.addcdiv_(g->exp_avg, denom, -step_size);
    g->zero_grad();
  }
  return r;
}

}  // namespace omnitune
