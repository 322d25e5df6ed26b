// FlatGroup: the FSDP storage of one unit's parameters of one kind (trainable or frozen)
// (DESIGN.md §5). The unit's TP-local parameters are laid end to end in one flat buffer padded to
// a multiple of the shard-group size; this rank owns the contiguous slice
// [shard_offset, shard_offset + shard_numel). Trainable groups keep that slice in fp32 (master
// weights) with an fp32 gradient and the AdamW moments; frozen groups keep it in the compute
// dtype and have no gradient or optimizer state.
//
// Lifecycle per use: gather() -> bind() (the module tensors become views of the gathered buffer,
// trainable ones as autograd leaves) -> compute -> release(). Gradients come back through
// reduce_grads(): flattened, summed over the shard group by reduce-scatter into the fp32 slice,
// and (hybrid sharding) all-reduced over the replicate group.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "dist/comm.h"
#include "nn/params.h"

namespace omnitune {

struct FlatParam {
  std::string name;
  at::Tensor* tensor = nullptr;  // the module's handle
  std::vector<int64_t> shape;    // TP-local shape
  int64_t offset = 0;            // in the flat buffer
  int64_t numel = 0;
  bool decay = true;             // AdamW weight decay applies
  bool tp_sharded = false;       // a different slice on every TP rank (counted per TP rank in norms)
  bool partial_grad = false;     // replicated over TP, gradient summed over TP before reduce-scatter
};

// How the engine sees collectives: the shard group (FSDP), optionally the replicate group (HSDP).
struct ShardComms {
  Comm* shard = nullptr;
  Comm* replicate = nullptr;  // null or size 1: plain FSDP
  Comm* tp = nullptr;         // for partial-grad parameters
};

class FlatGroup {
 public:
  // Params must hold their full TP-local values; the constructor copies this rank's slice and
  // releases the module tensors (nothing of the full model stays allocated).
  FlatGroup(std::string name, std::vector<FlatParam> params, bool trainable, ShardComms comms,
            at::ScalarType compute_dtype);

  // All-gathers the full flat buffer in the compute dtype (a collective over the shard group).
  at::Tensor gather() const;
  // Points the module tensors at views of `full`; trainable params become fresh autograd leaves.
  void bind(const at::Tensor& full);
  void release();
  // The bound leaf tensors of a trainable group, in param order.
  std::vector<at::Tensor> leaves() const;

  // Flattens per-param gradients (undefined = zero) into fp32, sums partial-grad params over TP.
  // Runs on the compute thread (TP collectives belong to it).
  at::Tensor flatten_grads(const std::vector<at::Tensor>& grads) const;
  // Reduce-scatter of a flattened gradient, accumulated into grad (a shard-group collective).
  void reduce_scatter_into_grad(const at::Tensor& flat_grad);

  void zero_grad();

  const std::string& name() const { return name_; }
  bool trainable() const { return trainable_; }
  const std::vector<FlatParam>& params() const { return params_; }
  int64_t numel() const { return numel_; }
  int64_t padded_numel() const { return padded_; }
  int64_t shard_numel() const { return shard_numel_; }
  int64_t shard_offset() const { return shard_offset_; }
  at::ScalarType compute_dtype() const { return compute_dtype_; }
  // Bytes this rank keeps for the group between steps (shard + grad + moments).
  int64_t persistent_bytes() const;
  // Bytes of one gathered full buffer.
  int64_t gathered_bytes() const { return padded_ * static_cast<int64_t>(at::elementSize(compute_dtype_)); }

  // This rank's slice of parameter p as [begin, end) offsets into the shard, empty if none.
  std::pair<int64_t, int64_t> shard_range(const FlatParam& p) const;
  // The whole group's TP-local values assembled from every rank's shard, in fp32 (a collective:
  // export and tests; param i is full.narrow(0, params()[i].offset, params()[i].numel)).
  at::Tensor gather_fp32() const;

  at::Tensor shard;                   // fp32 (trainable) or compute dtype (frozen)
  at::Tensor grad, exp_avg, exp_avg_sq;  // trainable only, fp32, [shard_numel]

 private:
  std::string name_;
  std::vector<FlatParam> params_;
  bool trainable_;
  ShardComms comms_;
  at::ScalarType compute_dtype_;
  int64_t numel_ = 0, padded_ = 0, shard_numel_ = 0, shard_offset_ = 0;
};

}  // namespace omnitune
