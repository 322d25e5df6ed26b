#include "parallel/fsdp_unit.h"

#include "core/error.h"

namespace omnitune {

void GatherAccounting::add(int64_t bytes) {
  ++gathers;
  const int64_t now = live += bytes;
  int64_t p = peak.load();
  while (now > p && !peak.compare_exchange_weak(p, now)) {
  }
}

FsdpUnit::FsdpUnit(std::string name, std::vector<FlatParam> trainable, std::vector<FlatParam> frozen,
                   ShardComms comms, at::ScalarType compute_dtype, GatherAccounting* accounting)
    : name_(std::move(name)), accounting_(accounting) {
  if (!trainable.empty())
    trainable_ = std::make_unique<FlatGroup>(name_ + "/trainable", std::move(trainable), true, comms, compute_dtype);
  if (!frozen.empty())
    frozen_ = std::make_unique<FlatGroup>(name_ + "/frozen", std::move(frozen), false, comms, compute_dtype);
}

int64_t FsdpUnit::gathered_bytes() const {
  return (trainable_ ? trainable_->gathered_bytes() : 0) + (frozen_ ? frozen_->gathered_bytes() : 0);
}

int64_t FsdpUnit::persistent_bytes() const {
  return (trainable_ ? trainable_->persistent_bytes() : 0) + (frozen_ ? frozen_->persistent_bytes() : 0);
}

void FsdpUnit::prefetch(CommStream& stream) {
  if (state_ != State::Released) return;
  state_ = State::Queued;
  accounting_->add(gathered_bytes());
  pending_ = stream.submit([this] {
    if (trainable_) full_trainable_ = trainable_->gather();
    if (frozen_) full_frozen_ = frozen_->gather();
  });
}

void FsdpUnit::materialize(CommStream& stream) {
  if (state_ == State::Bound) return;
  prefetch(stream);
  pending_.get();
  if (trainable_) trainable_->bind(full_trainable_);
  if (frozen_) frozen_->bind(full_frozen_);
  state_ = State::Bound;
}

void FsdpUnit::release() {
  if (state_ == State::Released) return;
  if (state_ == State::Queued) pending_.get();  // never free a buffer a collective still writes
  if (trainable_) trainable_->release();
  if (frozen_) frozen_->release();
  full_trainable_ = at::Tensor();
  full_frozen_ = at::Tensor();
  accounting_->sub(gathered_bytes());
  state_ = State::Released;
}

std::vector<at::Tensor> FsdpUnit::trainable_leaves() const {
  OT_CHECK(state_ == State::Bound, "unit ", name_, " is not gathered");
  return trainable_ ? trainable_->leaves() : std::vector<at::Tensor>{};
}

void FsdpUnit::reduce_grads(CommStream& stream, const std::vector<at::Tensor>& grads) {
  if (!trainable_) return;
  at::Tensor flat = trainable_->flatten_grads(grads);
  FlatGroup* g = trainable_.get();
  stream.submit([g, flat] { g->reduce_scatter_into_grad(flat); });
}

}  // namespace omnitune
