// ShardedGemma3n: a Gemma 3n model trained over a DP x TP mesh, unit by unit like ShardedGemma3.
// Units: the embedding (tied LM head, vocab-parallel), the per-layer-input weights (PLE table,
// its projection and norm, the AltUp stream projections), the audio tower + audio embedder, the
// vision tower + vision embedder, each decoder block, and the head (AltUp unembedding + final
// norm). One micro-batch:
//
//   forward : front (embed, per-layer, audio, vision: embeddings, soft tokens, per-layer inputs,
//             initial AltUp streams) -> block 0..L-1 -> head + tied LM head + loss
//   backward: head -> block L-1..0 -> front (recomputed; only when one of its units trains)
//
// Two things cross block boundaries in Gemma 3n and carry their own gradients here: the
// per-layer inputs (made by the front, read by every block: their gradients are collected per
// layer and sent through the front at the end) and the shared K/V (the last non-shared layer of
// each type keeps its K/V, the KV-shared layers read it: their K/V gradients are added up and
// given to the source block as extra output gradients when its backward runs).
#pragma once

#include <memory>
#include <vector>

#include "model/gemma3n_model.h"
#include "parallel/sharded_engine.h"

namespace omnitune {

class ShardedGemma3n : public ShardedEngine {
 public:
  // `model` must be built with tp_linear_factory(cfg, tp) and hold its TP-local parameter values
  // (see load_tp_local); they are moved into the shards. With tp > 1 the MLP sparsity statistics
  // are summed over the TP group (the layers hold slices of the MLP width).
  ShardedGemma3n(std::unique_ptr<Gemma3nModel> model, ShardComms comms, TpGroup tp, const ShardingOptions& opt,
                 const TrainableRule& rule);

  const Gemma3nModel& model() const { return *model_; }

 private:
  LossSum run(const MicroBatch& mb, double loss_denominator, bool backward) override;
  struct Front {
    at::Tensor streams, per_layer;  // [n, B, T, D], [B, T, L, P]
  };
  Front front(const MicroBatch& mb, at::ScalarType dt) const;

  std::unique_ptr<Gemma3nModel> model_;
  FsdpUnit* embed_ = nullptr;      // embed_tokens only (also the LM head)
  FsdpUnit* per_layer_ = nullptr;  // PLE table, projection, norm, AltUp projections
  FsdpUnit* audio_ = nullptr;
  FsdpUnit* vision_ = nullptr;     // absent when the model has no vision tower
  FsdpUnit* head_ = nullptr;
  std::vector<FsdpUnit*> blocks_;
  std::vector<FsdpUnit*> front_units_;  // in use order
};

}  // namespace omnitune
