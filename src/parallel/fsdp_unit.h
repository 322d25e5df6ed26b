// FsdpUnit: one FSDP unit (a decoder block, the embedding, the vision tower + projector, the
// final norm), holding up to two FlatGroups: trainable parameters (fp32 master shard, gradient,
// moments) and frozen ones (compute-dtype shard only: gathered for compute, never reduced).
// The engine drives it: prefetch() queues the all-gather on the CommStream, materialize() waits
// and binds the module tensors, release() frees the gathered buffers, reduce_grads() queues the
// reduce-scatter of the unit's gradients.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "parallel/comm_stream.h"
#include "parallel/flat_group.h"

namespace omnitune {

// Bytes of gathered (unsharded) parameters alive right now and at most, per rank: the engine's
// own accounting, so tests can compare memory with the formula without allocator noise.
struct GatherAccounting {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> peak{0};
  std::atomic<int64_t> gathers{0};  // unit all-gathers started (add() calls)
  void add(int64_t bytes);
  void sub(int64_t bytes) { live -= bytes; }
};

class FsdpUnit {
 public:
  FsdpUnit(std::string name, std::vector<FlatParam> trainable, std::vector<FlatParam> frozen, ShardComms comms,
           at::ScalarType compute_dtype, GatherAccounting* accounting);

  const std::string& name() const { return name_; }
  void prefetch(CommStream& stream);  // no-op when already gathered or queued
  void materialize(CommStream& stream);
  void release();
  bool gathered() const { return state_ != State::Released; }

  std::vector<at::Tensor> trainable_leaves() const;
  bool has_trainable() const { return trainable_ != nullptr; }
  // grads: one per trainable leaf (undefined = zero). Flattening (and the TP sum of partial
  // gradients) runs now; the reduce-scatter is queued on the stream.
  void reduce_grads(CommStream& stream, const std::vector<at::Tensor>& grads);

  FlatGroup* trainable() { return trainable_.get(); }
  FlatGroup* frozen() { return frozen_.get(); }
  const FlatGroup* trainable() const { return trainable_.get(); }
  const FlatGroup* frozen() const { return frozen_.get(); }
  int64_t gathered_bytes() const;
  int64_t persistent_bytes() const;

 private:
  enum class State { Released, Queued, Bound };
  std::string name_;
  std::unique_ptr<FlatGroup> trainable_, frozen_;
  GatherAccounting* accounting_;
  State state_ = State::Released;
  std::shared_future<void> pending_;
  at::Tensor full_trainable_, full_frozen_;
};

}  // namespace omnitune
