// ShardedGemma3: a Gemma 3 model trained over a DP x TP mesh (DESIGN.md §5). Units: vision tower +
// projector, embedding, each decoder block, final norm; one micro-batch runs unit by unit:
//
//   forward : vision -> embed -> block 0..L-1 -> head (final norm + tied LM head + loss)
//   backward: head (immediately, chunked over loss tokens) -> block L-1..0 -> embed -> vision
//
// Each block's forward keeps only its input when activation checkpointing is on and recomputes
// in backward; the next unit's all-gather is queued while the current unit computes.
#pragma once

#include <memory>
#include <vector>

#include "model/gemma3_model.h"
#include "parallel/sharded_engine.h"

namespace omnitune {

class ShardedGemma3 : public ShardedEngine {
 public:
  // `model` must be built with tp_linear_factory(cfg, tp) and hold its TP-local parameter values
  // (see load_tp_local); they are moved into the shards.
  ShardedGemma3(std::unique_ptr<Gemma3Model> model, ShardComms comms, TpGroup tp, const ShardingOptions& opt,
                const TrainableRule& rule);

  const Gemma3Model& model() const { return *model_; }

 private:
  LossSum run(const MicroBatch& mb, double loss_denominator, bool backward) override;

  std::unique_ptr<Gemma3Model> model_;
  FsdpUnit* vision_ = nullptr;
  FsdpUnit* embed_ = nullptr;
  FsdpUnit* head_ = nullptr;
  std::vector<FsdpUnit*> blocks_;
};

}  // namespace omnitune
