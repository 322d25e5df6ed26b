// ShardedEngine: what every model's training engine shares (DESIGN.md §5). A model is built
// unchanged with the TP linear factory; its engine groups the parameters into FSDP units, shards
// them over the DP group and runs one micro-batch forward and backward unit by unit. This base
// holds the units, the communication stream and the parts that do not depend on the model: the
// chunked vocab-parallel LM-head loss, assembling full parameters, accounting. ShardedGemma3 and
// ShardedGemma3n write the forward/backward schedule of their model.
//
// The loss is the sum of per-token cross-entropies divided by a caller-given denominator (the
// number of loss tokens in the whole global batch), so gradients do not depend on how the batch is
// split.
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
  // Gemma 3n: one log-mel clip per run of audio soft tokens [N, frames, bins] and its padding
  // flags [N, frames] (true = padding), or undefined.
  at::Tensor audio_features, audio_pad;
  at::Tensor targets;  // [B, T] int64, next-token targets, -100 = no loss
  // [B] int64, one LoRA dropout key per sample (lora_dropout_key): forward_backward applies the
  // adapters' dropout with them (nn/lora.h); undefined = no dropout. forward_loss never applies it.
  at::Tensor dropout_keys;
};

class ShardedEngine {
 public:
  virtual ~ShardedEngine();
  ShardedEngine(const ShardedEngine&) = delete;
  ShardedEngine& operator=(const ShardedEngine&) = delete;

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
  // Where the shards live (the model's own tensors are released after sharding).
  at::Device device() const;
  const ShardingOptions& options() const { return opt_; }
  const ShardComms& comms() const { return comms_; }
  const TpGroup& tp() const { return tp_; }
  // The model's dimensions as the TP plan sees them (checkpoints slice by it).
  const TpDims& tp_dims() const { return dims_; }
  GatherAccounting& gather_accounting() { return gather_acct_; }
  // What the schedule did since the last call (the trainer logs it per step, so the effect of
  // activation checkpointing, resharding and the loss chunk size is visible in the metrics).
  struct Counters {
    int64_t gathers = 0;            // unit all-gathers
    int64_t recomputed_blocks = 0;  // decoder blocks recomputed in backward (activation checkpointing)
    int64_t loss_chunks = 0;        // LM-head loss chunks (distributed.loss_chunk_tokens)
  };
  Counters take_counters();
  int64_t persistent_bytes() const;
  int64_t trainable_numel() const;  // TP-local, unpadded
  int64_t frozen_numel() const;

 protected:
  ShardedEngine(TpDims dims, ShardComms comms, TpGroup tp, const ShardingOptions& opt);
  // A new unit over `params` (full shapes as the model collects them), split by `rule`.
  FsdpUnit* add_unit(const std::string& name, const ParamList& params, const TrainableRule& rule);
  // The model's schedule: forward (and backward when asked) of one micro-batch.
  virtual LossSum run(const MicroBatch& mb, double loss_denominator, bool backward) = 0;

  // Walks a unit schedule: use(u) gathers u (waiting for its prefetch) and queues the next one.
  class Schedule {
   public:
    Schedule(ShardedEngine& e, std::vector<FsdpUnit*> order) : e_(e), order_(std::move(order)) {}
    void use(FsdpUnit* u);

   private:
    ShardedEngine& e_;
    std::vector<FsdpUnit*> order_;
    size_t cursor_ = 0;
  };

  // The LM head over final hidden states hn [B, T, D] (no graph needed): tied vocab-parallel
  // logits (soft-capped when softcap > 0) and cross-entropy over the loss tokens of `targets`,
  // chunk by chunk so only [chunk x V/tp] logits ever exist. With backward, also the gradient of
  // the loss / denominator with respect to hn and (table_grad) to this rank's table rows.
  struct HeadResult {
    LossSum loss;
    at::Tensor grad_hidden;  // [B, T, D] like hn
    at::Tensor table_grad;   // [V/tp, D] fp32, when asked
  };
  HeadResult lm_head_loss(const at::Tensor& hn, const at::Tensor& targets, const at::Tensor& table, double softcap,
                          double denom, bool backward, bool want_table_grad);
  // The head step of a schedule, with `head` and `embed` (the tied table) gathered: final hidden
  // states final_hidden(h) (the model's final norm; Gemma 3n: AltUp unembedding too), then
  // lm_head_loss. With backward, reduces the head's and the table's gradients and sets grad_h to
  // the gradient with respect to h. Releases both units.
  LossSum run_head(FsdpUnit* head, FsdpUnit* embed, const at::Tensor& h,
                   const std::function<at::Tensor(const at::Tensor&)>& final_hidden, const at::Tensor& targets,
                   const at::Tensor& table, double softcap, double denom, bool backward, at::Tensor& grad_h);

  TpDims dims_;
  ShardComms comms_;
  TpGroup tp_;
  ShardingOptions opt_;
  GatherAccounting gather_acct_;
  Counters counters_;  // gathers are counted in gather_acct_
  std::unique_ptr<CommStream> stream_;
  std::vector<std::unique_ptr<FsdpUnit>> units_;
  int64_t vocab_start_ = 0;  // first vocabulary row of this TP rank
};

// Helpers of the engines' schedules.
// The default CPU generator's state: a checkpointed block recomputes its forward with the random
// numbers (LoRA dropout) of the original forward.
at::Tensor engine_rng_state();
void engine_set_rng_state(const at::Tensor& state);
// d(outs)/d(inputs) given the outputs' gradients (undefined = unused input); no graph kept.
std::vector<at::Tensor> engine_grads(const std::vector<at::Tensor>& outs, const std::vector<at::Tensor>& grad_outs,
                                     const std::vector<at::Tensor>& inputs);

// Fills the TP-local parameters of `params` (full shapes as collected from the model) from
// full-size tensors given by `full(name)`: each rank copies only its slice. Shapes become local.
void load_tp_local(const TpDims& dims, ParamList& params, const std::function<at::Tensor(const std::string&)>& full,
                   const TpGroup& tp, at::ScalarType dtype);

// load_tp_local from a Hugging Face checkpoint directory: the file is memory-mapped and each rank
// copies (and converts to `dtype`) only its TP slice of every tensor. `unused(name)`: checkpoint
// tensors the architecture ignores (Gemma 3n's KV-shared K/V), or null.
void hf_load_tp_local(const std::string& dir, const TpDims& dims, ParamList& params, const TpGroup& tp,
                      at::ScalarType dtype, const std::function<bool(const std::string&)>& unused = nullptr);

}  // namespace omnitune
