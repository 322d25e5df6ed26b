// Builds the model a run trains: Hugging Face config + weights from model.path, LoRA adapters
// where the PEFT rule says, the TP plan of the mesh, and the FSDP engine over it. Each rank loads
// only its TP slice; new LoRA weights are drawn from a generator seeded by (seed, parameter name),
// so every rank and every mesh starts from the same full adapter (A ~ PEFT's kaiming-uniform
// bound 1/sqrt(in_features), B = 0).
#pragma once

#include <memory>

#include "dist/device_mesh.h"
#include "parallel/sharded_gemma3.h"
#include "train/train_config.h"

namespace omnitune {

struct TrainModel {
  Gemma3Config config;
  std::unique_ptr<ShardedGemma3> engine;
  int64_t trainable_params = 0, frozen_params = 0;  // full model counts (not per rank)
};

// Parameters live on `device` (CPU with MPI, the rank's GPU with NCCL); the checkpoint is read on
// the host and copied over once.
TrainModel build_train_model(const TrainSettings& t, DeviceMesh& mesh, const at::Device& device);

}  // namespace omnitune
