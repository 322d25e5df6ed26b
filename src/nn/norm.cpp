// Norm implementations. The fp32 upcast matters for bf16 parity with HF (gemma-spec A.4).
#include "nn/norm.h"

#include "nn/fused_cpu.h"

namespace omnitune {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one) {
  if (fused_rms_norm_supported(x, w)) return fused_rms_norm(x, w, eps, plus_one);
  return rms_norm_unfused(x, w, eps, plus_one);
}

at::Tensor rms_norm_unfused(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one) {
  const at::ScalarType ct = compute_dtype_of(x.scalar_type());
  at::Tensor xf = x.to(ct);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (w.defined()) {
    at::Tensor g = w.to(ct);
    y = plus_one ? y * (g + 1.0) : y * g;
  }
  return y.to(x.scalar_type());
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {dim}, weight, bias, eps);
}

}  // namespace omnitune
