// AdamW on the fp32 shards of every trainable FlatGroup (DESIGN.md §5): decoupled weight decay
// (only where FlatParam::decay), state sharded exactly like the parameters, and global
// gradient-norm clipping whose squared norm is summed over the shard group and, for TP-sharded
// parameters, over TP (replicated parameters are counted once).
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/flat_group.h"

namespace omnitune {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
  double max_grad_norm = 1.0;  // <= 0: no clipping
};

struct StepReport {
  double grad_norm = 0;  // before clipping
  bool finite = true;    // false: the step was skipped (NaN/Inf gradient)
};

class ShardedAdamW {
 public:
  ShardedAdamW(std::vector<FlatGroup*> groups, ShardComms comms, AdamWOptions opt);

  // Global gradient norm (a collective over the shard, replicate and TP groups).
  double grad_norm() const;
  // Each group's gradient norm (same reductions as grad_norm, one collective): early-step
  // diagnostics. grad_norm()^2 equals the sum of their squares.
  std::vector<double> group_grad_norms() const;
  // Clips, updates the shards with learning rate lr, zeroes the gradients. A non-finite gradient
  // norm skips the update (gradients are still zeroed) and reports finite = false.
  StepReport step(double lr);
  int64_t steps_taken() const { return step_; }
  void set_steps_taken(int64_t s) { step_ = s; }
  const AdamWOptions& options() const { return opt_; }

 private:
  std::vector<FlatGroup*> groups_;
  ShardComms comms_;
  AdamWOptions opt_;
  int64_t step_ = 0;
};

}  // namespace omnitune
