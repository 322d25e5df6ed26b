// LoRA (Hu et al. 2021, as HF PEFT defines it): y = base(x) + (alpha / r) * B(A(dropout(x))),
// A [r, in] random, B [out, r] zero, so a fresh adapter leaves the model unchanged. The wrapper
// creates A and B through the same LinearFactory as the base layer, under the names
// "<module>.lora_A" / "<module>.lora_B": with the TP factory, A and B split the way the TP plan
// says (tp_plan.h), with no TP code here.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "nn/linear.h"

namespace omnitune {

struct LoraOptions {
  int64_t rank = 8;      // PEFT `r` / NeMo `dim`
  double alpha = 32;     // scale = alpha / rank
  double dropout = 0.0;  // on the adapter input, training only
  // Dropout is applied only while *training is true (the trainer flips it; null = never).
  std::shared_ptr<bool> training;
};

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
  std::shared_ptr<bool> training_;
};

// Wraps every layer whose module name `matches` with LoRA; others come from `inner` unchanged.
LinearFactory lora_linear_factory(LinearFactory inner, const LoraOptions& opt,
                                  std::function<bool(const std::string& module)> matches);

// True for a LoRA adapter parameter name ("....lora_A.weight" / "....lora_B.weight").
bool is_lora_param(const std::string& name);

}  // namespace omnitune
