// Next-token selection in Hugging Face's order (gemma-spec F): fp32 logits -> temperature ->
// top-k (ties at the k-th score kept) -> top-p (drop the low tail whose cumulative probability is
// <= 1 - p, always keep one) -> softmax -> multinomial. Greedy is argmax.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>

namespace omnitune {

struct SamplingOptions {
  bool greedy = true;
  double temperature = 1.0;
  int64_t top_k = 64;    // <= 0: off
  double top_p = 0.95;   // >= 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& opt);
  // logits [B, V] -> token ids [B] (int64).
  at::Tensor next(const at::Tensor& logits);
  // The filtered, temperature-scaled scores before softmax (-inf where removed); tests use it.
  at::Tensor filtered_scores(const at::Tensor& logits) const;

 private:
  SamplingOptions opt_;
  at::Generator gen_;
};

}  // namespace omnitune
