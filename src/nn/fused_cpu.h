// Fused CPU kernels for a decoder layer's elementwise work. LibTorch runs RMSNorm as ~9 separate
// passes over the activations (upcast, square, mean, rsqrt, two products, downcast), each with
// its own temporary, and on CPU its bf16 elementwise ops are slow: in a bf16 train step they cost
// more than the matmuls (bench/peer profiles). These kernels make one pass forward and one
// backward, compute in fp32 exactly as the unfused ops do (same products in the same order, one
// rounding to the output dtype), and are autograd functions, so training and the checkpointed
// recompute use them unchanged. Tests compare them with the unfused path (tests/unit/nn).
#pragma once

#include <ATen/ATen.h>

namespace omnitune {

// True when fused_rms_norm takes (x, w): CPU tensors, x float32 or bfloat16, w undefined or
// float32/bfloat16 with x's last dimension; false for everything while fused kernels are off.
bool fused_rms_norm_supported(const at::Tensor& x, const at::Tensor& w);

// Process-wide switch (default on) so a bench can time the unfused ops in the same run
// (bench/peer: peer_bench --unfused). Not for production use: results agree either way.
void set_fused_cpu_kernels(bool on);
bool fused_cpu_kernels();

// y = x * rsqrt(mean(x^2) + eps) * (plus_one ? 1 + w : w) in fp32, cast to x's dtype; gradients
// for x and (when it requires them) w.
at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one);

}  // namespace omnitune
