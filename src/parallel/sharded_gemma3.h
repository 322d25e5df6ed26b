// ShardedGemma3: a Gemma 3 model trained over a DP x TP mesh (DESIGN.md §5). The model itself is
// built unchanged, with the TP linear factory; this class groups its parameters into FSDP units
// (vision tower + projector, embedding, each decoder block, final norm), shards them over the DP
// group, and runs one micro-batch forward and backward unit by unit:
//
//   forward : vision -> embed -> block 0..L-1 -> head (final norm + tied LM head + loss)
//   backward: head (immediately, chunked over loss tokens) -> block L-1..0 -> embed -> vision
//
// Each block's forward keeps only its input when activation checkpointing is on and recomputes
// in backward; the next unit's all-gather is queued while the current unit computes. The loss is
// the sum of per-token cross-entropies divided by a caller-given denominator (the number of loss
// tokens in the whole global batch), so gradients do not depend on how the batch is split.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/gemma3_model.h"
#include "parallel/comm_stream.h"
#include "parallel/fsdp_unit.h"
#include "parallel/tp_plan.h"

namespace omnitune {

struct ShardingOptions {
  at::ScalarType compute_dtype = at::kBFloat16;
  bool activation_checkpointing = true;
  bool reshard_after_forward = true;  // with checkpointing: free blocks after forward, gather again in backward
  bool prefetch = true;               // overlap the next unit's all-gather with compute
  int64_t loss_chunk_tokens = 1024;   // loss tokens per LM-head chunk
};

// Which parameters train (by HF name) and which get weight decay.
struct TrainableRule {
  std::function<bool(const std::string& name)> trainable = [](const std::string&) { return true; };
  std::function<bool(const std::string& name, size_t dims)> decay = [](const std::string& name, size_t dims) {
    return dims >= 2 && name.find("embed_tokens") == std::string::npos;
  };
};

struct MicroBatch {
  Gemma3Inputs inputs;
  at::Tensor targets;  // [B, T] int64, next-token targets, -100 = no loss
};

class ShardedGemma3 {
 public:
  // `model` must be built with tp_linear_factory(cfg, tp) and hold its TP-local parameter values
  // (see load_tp_local); they are moved into the shards.
  ShardedGemma3(std::unique_ptr<Gemma3Model> model, ShardComms comms, TpGroup tp, const ShardingOptions& opt,
                const TrainableRule& rule);
  ~ShardedGemma3();

  // Forward and backward of one micro-batch; gradients accumulate into the shards. Returns the
  // micro-batch's summed per-token loss (unscaled) and its number of loss tokens.
  struct LossSum {
    double loss_sum = 0;
    int64_t tokens = 0;
  };
  LossSum forward_backward(const MicroBatch& mb, double loss_denominator);
  // Forward only (validation).
  LossSum forward_loss(const MicroBatch& mb);
  // Waits for queued reduce-scatters (call before the optimizer step).
  void synchronize();

  // Calls fn(name, full fp32 tensor) for every parameter (or only trainable ones), one at a time,
  // after assembling it over DP (shards) and TP (slices). A collective: every rank of the mesh
  // calls it and gets the same tensors (export and tests use them on one rank).
  void for_each_full_param(bool trainable_only, const std::function<void(const std::string&, const at::Tensor&)>& fn);

  std::vector<std::unique_ptr<FsdpUnit>>& units() { return units_; }
  const std::vector<std::unique_ptr<FsdpUnit>>& units() const { return units_; }
  const Gemma3Model& model() const { return *model_; }
  // Where the shards live (the model's own tensors are released after sharding).
  at::Device device() const;
  const ShardingOptions& options() const { return opt_; }
  const ShardComms& comms() const { return comms_; }
  const TpGroup& tp() const { return tp_; }
  GatherAccounting& gather_accounting() { return gather_acct_; }
  int64_t persistent_bytes() const;
  int64_t trainable_numel() const;  // TP-local, unpadded
  int64_t frozen_numel() const;

 private:
  struct Pass;
  LossSum run(const MicroBatch& mb, double loss_denominator, bool backward);

  std::unique_ptr<Gemma3Model> model_;
  ShardComms comms_;
  TpGroup tp_;
  ShardingOptions opt_;
  GatherAccounting gather_acct_;
  std::unique_ptr<CommStream> stream_;
  std::vector<std::unique_ptr<FsdpUnit>> units_;
  FsdpUnit* vision_ = nullptr;
  FsdpUnit* embed_ = nullptr;
  FsdpUnit* head_ = nullptr;
  std::vector<FsdpUnit*> blocks_;
  int64_t vocab_start_ = 0;
};

// Fills the TP-local parameters of `params` (full shapes as collected from the model) from
// full-size tensors given by `full(name)`: each rank copies only its slice. Shapes become local.
void load_tp_local(const Gemma3Config& cfg, ParamList& params, const std::function<at::Tensor(const std::string&)>& full,
                   const TpGroup& tp, at::ScalarType dtype);

// load_tp_local from a Hugging Face checkpoint directory: the file is memory-mapped and each rank
// copies (and converts to `dtype`) only its TP slice of every tensor.
void hf_load_tp_local(const std::string& dir, const Gemma3Config& cfg, ParamList& params, const TpGroup& tp,
                      at::ScalarType dtype);

}  // namespace omnitune
