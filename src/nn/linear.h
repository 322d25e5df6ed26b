// Linear layers: y = x Wᵀ (+ b), W stored [out, in] as in PyTorch and HF checkpoints. Models create
// every linear layer through a LinearFactory, so the parallel engine can substitute column/row
// tensor-parallel layers and the trainer can wrap targets with LoRA, without touching model code.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>

#include "nn/params.h"

namespace omnitune {

struct LinearSpec {
  std::string name;  // full HF module name, e.g. "model.language_model.layers.3.self_attn.q_proj"
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = false;
};

class Linear {
 public:
  explicit Linear(LinearSpec spec) : spec_(std::move(spec)) {}
  virtual ~Linear() = default;
  virtual at::Tensor forward(const at::Tensor& x) const = 0;
  // Appends this layer's parameters (names "<module>.weight", "<module>.bias", ...).
  virtual void collect_params(ParamList& out) = 0;
  // The first column of the full input (spec().in_features wide) that forward's x holds: 0 unless
  // the layer takes a slice of its input (row-parallel TP). LoRA dropout masks by full columns.
  virtual int64_t input_offset() const { return 0; }
  const LinearSpec& spec() const { return spec_; }

 private:
  LinearSpec spec_;
};

// The plain single-device layer.
class DenseLinear : public Linear {
 public:
  explicit DenseLinear(LinearSpec spec) : Linear(std::move(spec)) {}
  at::Tensor forward(const at::Tensor& x) const override;
  void collect_params(ParamList& out) override;

  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
};

using LinearFactory = std::function<std::unique_ptr<Linear>(const LinearSpec&)>;

// Factory of DenseLinear layers (the default everywhere outside tensor parallelism).
LinearFactory dense_linear_factory();

}  // namespace omnitune
