// Builds the model a run trains: Hugging Face config + weights from model.path (Gemma 3 or Gemma
// 3n, by config.json's model_type), LoRA adapters where the PEFT rule says, the TP plan of the
// mesh, and the FSDP engine over it. Each rank loads only its TP slice; new LoRA weights are drawn
// from a generator seeded by (seed, parameter name), so every rank and every mesh starts from the
// same full adapter (A ~ PEFT's kaiming-uniform bound 1/sqrt(in_features), B = 0).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dist/device_mesh.h"
#include "parallel/sharded_engine.h"
#include "train/flops.h"
#include "train/train_config.h"

namespace omnitune {

struct TrainModel {
  std::string model_type;   // "gemma3" or "gemma3n"
  std::string description;  // one line for the log
  int64_t sliding_window = 0;
  std::function<double(const StepShape&)> step_flops;  // model FLOPs of a training step (MFU)
  std::unique_ptr<ShardedEngine> engine;
  int64_t trainable_params = 0, frozen_params = 0;  // full model counts (not per rank)
};

// Parameters live on `device` (CPU with MPI, the rank's GPU with NCCL); the checkpoint is read on
// the host and copied over once.
TrainModel build_train_model(const TrainSettings& t, DeviceMesh& mesh, const at::Device& device);

}  // namespace omnitune
