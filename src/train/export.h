// Exports a trained model in Hugging Face formats (issue 6), from a running engine on any mesh
// (a collective; rank 0 writes):
//   hf      config.json + sharded model*.safetensors (+ index) + tokenizer/processor files copied
//           from the base model directory: loads in transformers and in omnitune-generate
//   peft    adapter_model.safetensors ("base_model.model.<module>.lora_A.weight", ...) and
//           adapter_config.json: loads with PEFT and with omnitune-generate --adapter
//   merged  the LoRA update merged into the base weights (W + alpha/r * B A), as hf
#pragma once

#include <cstdint>
#include <string>

#include "parallel/sharded_engine.h"
#include "train/train_config.h"

namespace omnitune {

struct ExportOptions {
  std::string format = "hf";                // hf | peft | merged
  at::ScalarType dtype = at::kBFloat16;     // dtype of the written weights
  int64_t max_shard_bytes = 4LL << 30;      // hf: one model-0000i-of-0000n.safetensors per this many bytes
};

// Writes the export to `out_dir` (created; replaced atomically via a temporary sibling).
void export_model(ShardedEngine& engine, const TrainSettings& t, const ExportOptions& opt, const std::string& out_dir,
                  Comm& world);

}  // namespace omnitune
