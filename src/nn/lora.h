// LoRA (Hu et al. 2021, as HF PEFT defines it): y = base(x) + (alpha / r) * B(A(dropout(x))),
// A [r, in] random, B [out, r] zero, so a fresh adapter leaves the model unchanged. The wrapper
// creates A and B through the same LinearFactory as the base layer, under the names
// "<module>.lora_A" / "<module>.lora_B": with the TP factory, A and B split the way the TP plan
// says (tp_plan.h), with no TP code here.
//
// Dropout (PEFT: nn.Dropout(p) on the adapter input, kept values scaled by 1/(1-p), training only)
// draws no random stream: each mask element is a hash of the sample's key, the layer's name and
// the element's position (row in the sample, column of the full input). So a sample gets the same
// mask on whatever DP rank or micro-batch it lands, every TP rank holding a replicated input (or a
// slice of it) uses the same mask (or its slice), an activation-checkpointed block recomputes the
// same mask, and a resumed run draws what the uninterrupted run drew. The engine turns dropout on
// for a training micro-batch (LoraDropoutScope with the micro-batch's keys); evaluation and
// generation never do.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "nn/linear.h"

namespace omnitune {

struct LoraOptions {
  int64_t rank = 8;      // PEFT `r` / NeMo `dim`
  double alpha = 32;     // scale = alpha / rank
  double dropout = 0.0;  // on the adapter input, only inside a LoraDropoutScope
};

// One sample's dropout key for one epoch: the same on every rank, mesh and resume; another epoch
// (or seed) gives the sample other masks, as a fresh random draw would.
int64_t lora_dropout_key(uint64_t seed, int64_t epoch, int64_t sample_index);

// While alive, LoRA layers with dropout > 0 apply it, with `keys` [B] int64 (one per sample of the
// micro-batch, lora_dropout_key) for inputs [B, ..., in]. Scopes do not nest; one thread (the one
// that runs the model's forward and its recompute).
class LoraDropoutScope {
 public:
  explicit LoraDropoutScope(at::Tensor keys);
  ~LoraDropoutScope();
  LoraDropoutScope(const LoraDropoutScope&) = delete;
  LoraDropoutScope& operator=(const LoraDropoutScope&) = delete;
};

// The scaled keep-mask for an input x of `shape` [B, rows..., cols] whose columns are
// [col_offset, col_offset + cols) of an in_full-wide input: 0 where dropped, 1/(1-p) where kept,
// in `opt`'s dtype and device. Element (b, r, c) depends only on keys[b], layer_key, r (the row
// index within the sample, rows flattened) and col_offset + c.
at::Tensor lora_dropout_mask(const at::Tensor& keys, int64_t layer_key, at::IntArrayRef shape, int64_t col_offset,
                             int64_t in_full, double p, const at::TensorOptions& opt);

// The key of a layer for lora_dropout_mask (a hash of its module name).
int64_t lora_layer_key(const std::string& module);

class LoraLinear : public Linear {
 public:
  LoraLinear(std::unique_ptr<Linear> base, const LoraOptions& opt, const LinearFactory& make_linear);
  at::Tensor forward(const at::Tensor& x) const override;
  void collect_params(ParamList& out) override;

  Linear& base() { return *base_; }
  Linear& lora_a() { return *a_; }
  Linear& lora_b() { return *b_; }
  double scale() const { return scale_; }

 private:
  std::unique_ptr<Linear> base_, a_, b_;
  double scale_, dropout_;
  int64_t layer_key_;
};

// Wraps every layer whose module name `matches` with LoRA; others come from `inner` unchanged.
LinearFactory lora_linear_factory(LinearFactory inner, const LoraOptions& opt,
                                  std::function<bool(const std::string& module)> matches);

// True for a LoRA adapter parameter name ("....lora_A.weight" / "....lora_B.weight").
bool is_lora_param(const std::string& name);

}  // namespace omnitune
