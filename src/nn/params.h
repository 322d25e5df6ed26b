// Named parameters: every module lists its tensors under their Hugging Face names, with the shape
// they must have. Loaders fill them from checkpoints, exporters write them back, FSDP replaces
// them with views into flat buffers, LoRA finds its targets by these names. Tensors may start
// undefined (nothing allocated) and be materialised by a loader or an initialiser.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace omnitune {

// How a random initialisation centres a parameter: at 0 (weights, biases, Gemma's zero-centred
// RMSNorm gains, applied as 1 + w) or at 1 (gains used as they are: LayerNorm, Gemma 3n RMSNorm;
// centred at 0 they would scale the layer's output to almost nothing).
enum class ParamCentre { Zero, One };

struct NamedParam {
  std::string name;             // full HF name, e.g. "model.language_model.layers.0.mlp.up_proj.weight"
  at::Tensor* tensor = nullptr; // the module's own handle: assigning to *tensor replaces the parameter
  std::vector<int64_t> shape;   // the shape the parameter must have
  ParamCentre centre = ParamCentre::Zero;  // random initialisation only
};

using ParamList = std::vector<NamedParam>;

// "a" + "b" -> "a.b"; an empty prefix gives "b".
inline std::string param_join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Allocates every undefined parameter with N(0, std), or N(1, std) for ParamCentre::One gains (the
// noise makes random models exercise every weight). Deterministic for a seed.
void params_init_random(ParamList& params, const at::TensorOptions& options, double std, uint64_t seed);

// Total element count of the listed parameters (by declared shape).
int64_t params_numel(const ParamList& params);

}  // namespace omnitune
