// Normalisation layers. RMSNorm runs in fp32 whatever the input dtype and casts back at the end;
// Gemma 3 stores zero-centred gains (effective gain 1 + w, applied in fp32 before the cast),
// Gemma 3n stores the gain itself. LayerNorm (SigLIP) is the standard mean/variance form.
#pragma once

#include <ATen/ATen.h>

#include "nn/params.h"

namespace omnitune {

// The dtype reductions and softmaxes run in: fp32 for half, bf16 and fp32 inputs (HF's upcast),
// fp64 for fp64 inputs (gradient checks keep their precision).
inline at::ScalarType compute_dtype_of(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// y = x * rsqrt(mean(x^2) + eps) * (plus_one ? 1 + w : w), computed in fp32, cast to x's dtype.
// An undefined w means gain 1. fp32 and bf16 on CPU run the fused kernel (nn/fused_cpu.h), the
// rest rms_norm_unfused: the same arithmetic as separate LibTorch ops (the reference in tests).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one);
at::Tensor rms_norm_unfused(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one);

struct RmsNorm {
  std::string name;  // module name; the parameter is "<name>.weight"
  int64_t dim = 0;
  double eps = 1e-6;
  bool plus_one = true;  // Gemma 3 convention
  at::Tensor weight;

  at::Tensor forward(const at::Tensor& x) const { return rms_norm(x, weight, eps, plus_one); }
  void collect_params(ParamList& out) {
    out.push_back({name + ".weight", &weight, {dim}, plus_one ? ParamCentre::Zero : ParamCentre::One});
  }
};

struct LayerNorm {
  std::string name;
  int64_t dim = 0;
  double eps = 1e-6;
  at::Tensor weight, bias;

  at::Tensor forward(const at::Tensor& x) const;
  void collect_params(ParamList& out) {
    out.push_back({name + ".weight", &weight, {dim}, ParamCentre::One});
    out.push_back({name + ".bias", &bias, {dim}});
  }
};

}  // namespace omnitune
