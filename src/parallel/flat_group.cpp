#include "parallel/flat_group.h"

#include <ATen/core/grad_mode.h>

#include "core/error.h"

namespace omnitune {

FlatGroup::FlatGroup(std::string name, std::vector<FlatParam> params, bool trainable, ShardComms comms,
                     at::ScalarType compute_dtype)
    : name_(std::move(name)), params_(std::move(params)), trainable_(trainable), comms_(comms),
      compute_dtype_(compute_dtype) {
  OT_CHECK(comms_.shard != nullptr, "flat group '", name_, "' needs a shard group");
  at::NoGradGuard no_grad;
  int64_t off = 0;
  for (auto& p : params_) {
    p.numel = 1;
    for (int64_t d : p.shape) p.numel *= d;
    p.offset = off;
    off += p.numel;
  }
  numel_ = off;
  const int64_t n = comms_.shard->size();
  padded_ = (numel_ + n - 1) / n * n;
  shard_numel_ = padded_ / n;
  shard_offset_ = comms_.shard->rank() * shard_numel_;

  const at::ScalarType storage = trainable_ ? at::kFloat : compute_dtype_;
  // Buffers live on the device of the parameters handed in (CPU with MPI, CUDA with NCCL).
  OT_CHECK(!params_.empty() && params_[0].tensor && params_[0].tensor->defined(), "flat group '", name_,
           "' has no parameters");
  shard = at::zeros({shard_numel_}, params_[0].tensor->options().dtype(storage));
  for (auto& p : params_) {
    OT_CHECK(p.tensor && p.tensor->defined(), "parameter ", p.name, " has no value to shard");
    OT_CHECK(p.tensor->numel() == p.numel, "parameter ", p.name, " has ", p.tensor->numel(),
             " elements, expected ", p.numel);
    auto [b, e] = shard_range(p);
    if (e > b) {
      const int64_t src = shard_offset_ + b - p.offset;
      shard.narrow(0, b, e - b).copy_(p.tensor->reshape({-1}).narrow(0, src, e - b));
    }
    *p.tensor = at::Tensor();
  }
  if (trainable_) {
    grad = at::zeros_like(shard);
    exp_avg = at::zeros_like(shard);
    exp_avg_sq = at::zeros_like(shard);
  }
}

std::pair<int64_t, int64_t> FlatGroup::shard_range(const FlatParam& p) const {
  const int64_t b = std::max(p.offset, shard_offset_), e = std::min(p.offset + p.numel, shard_offset_ + shard_numel_);
  if (e <= b) return {0, 0};
  return {b - shard_offset_, e - shard_offset_};
}

int64_t FlatGroup::persistent_bytes() const {
  int64_t b = shard.numel() * static_cast<int64_t>(shard.element_size());
  if (trainable_) b += 3 * shard_numel_ * 4;
  return b;
}

at::Tensor FlatGroup::gather() const {
  at::NoGradGuard no_grad;
  at::Tensor full = at::empty({padded_}, shard.options().dtype(compute_dtype_));
  comms_.shard->all_gather(shard.to(compute_dtype_), full);
  return full;
}

void FlatGroup::bind(const at::Tensor& full) {
  for (auto& p : params_) {
    at::Tensor v = full.narrow(0, p.offset, p.numel).view(p.shape);
    *p.tensor = trainable_ ? v.detach().requires_grad_(true) : v;
  }
}

void FlatGroup::release() {
  for (auto& p : params_) *p.tensor = at::Tensor();
}

std::vector<at::Tensor> FlatGroup::leaves() const {
  std::vector<at::Tensor> out;
  for (const auto& p : params_) out.push_back(*p.tensor);
  return out;
}

at::Tensor FlatGroup::flatten_grads(const std::vector<at::Tensor>& grads) const {
  at::NoGradGuard no_grad;
  OT_CHECK(grads.size() == params_.size(), "flat group '", name_, "': ", grads.size(), " grads for ",
           params_.size(), " params");
  at::Tensor flat = at::zeros({padded_}, shard.options().dtype(at::kFloat));
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined()) continue;
    at::Tensor g = grads[i].to(flat.device(), at::kFloat).reshape({-1});
    at::Tensor dst = flat.narrow(0, params_[i].offset, params_[i].numel);
    dst.copy_(g);
    if (params_[i].partial_grad && comms_.tp && comms_.tp->size() > 1) comms_.tp->all_reduce(dst, ReduceOp::Sum);
  }
  return flat;
}

void FlatGroup::reduce_scatter_into_grad(const at::Tensor& flat_grad) {
  at::NoGradGuard no_grad;
  OT_CHECK(trainable_, "reduce_scatter on frozen group ", name_);
  at::Tensor out = at::empty({shard_numel_}, flat_grad.options());
  comms_.shard->reduce_scatter(flat_grad, out, ReduceOp::Sum);
  if (comms_.replicate && comms_.replicate->size() > 1) comms_.replicate->all_reduce(out, ReduceOp::Sum);
  grad.add_(out);
}

void FlatGroup::zero_grad() {
  if (trainable_) grad.zero_();
}

at::Tensor FlatGroup::gather_fp32() const {
  at::NoGradGuard no_grad;
  at::Tensor full = at::empty({padded_}, shard.options());
  comms_.shard->all_gather(shard, full);
  return full.to(at::kFloat);
}


}  // namespace omnitune
