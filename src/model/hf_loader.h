// Loads Hugging Face safetensors checkpoints into a model's named parameters. Accepts both key
// generations (hub: "language_model.model.*", "vision_tower.vision_model.*",
// "multi_modal_projector.*"; transformers >= 4.52: "model.language_model.*", ...), a tied lm_head
// stored or not, single-file or sharded (model.safetensors.index.json) checkpoints. Missing or
// unexpected tensors are one error that lists them.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nn/params.h"

namespace omnitune {

struct HfLoadOptions {
  at::ScalarType dtype = at::kBFloat16;  // parameters end up in this dtype
  at::Device device = at::Device(at::kCPU);
  // Zero-copy: CPU tensors of matching dtype point straight into the read-only file mapping
  // (no second copy in memory). Such tensors must never be written in place: training copies.
  bool zero_copy = true;
  // With zero_copy on CPU: map every aligned tensor in the file's own dtype, ignoring `dtype`
  // (the TP loader converts only each rank's slice; nothing of the full model is copied).
  bool keep_file_dtype = false;
  // Tensors the model does not use are an error unless allowed.
  bool allow_unexpected = false;
  // Checkpoint tensors the architecture knows it does not use (Gemma 3n's K/V projections of
  // KV-shared layers): skipped and listed in the report, never an error.
  std::function<bool(const std::string&)> known_unused;
};

struct HfLoadReport {
  std::string key_style;  // "hub (legacy)" or "transformers>=4.52"
  int64_t tensors = 0;
  int64_t bytes = 0;      // bytes read from the checkpoint
  int64_t zero_copy = 0;  // tensors mapped without copying
  std::vector<std::string> ignored;  // unexpected tensors skipped (allow_unexpected)
};

// The checkpoint names a model-internal name may have, most likely first.
std::vector<std::string> hf_candidate_names(const std::string& internal_name);

// Every tensor's name and shape in the checkpoint directory `dir` (all shards), read from the
// headers only: models whose layout comes from the weights (MobileNetV5) are built from it.
std::map<std::string, std::vector<int64_t>> hf_checkpoint_shapes(const std::string& dir);

// Fills every parameter in `params` from the checkpoint directory `dir`.
HfLoadReport hf_load_checkpoint(const std::string& dir, ParamList& params, const HfLoadOptions& opt);

}  // namespace omnitune
