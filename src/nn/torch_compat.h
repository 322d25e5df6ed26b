// LibTorch version differences, in one place: feature macros from <torch/version.h> so the code
// builds against Debian 12's LibTorch 1.13 and the 2.x of cluster containers. CI builds and tests
// both (scripts/test.sh: 1.13, scripts/check-libtorch2.sh: 2.6); tests/unit/nn/torch_compat_test.cpp
// checks that each build sees the features claimed here.
//
// Header traps that need no macro, only the right include (it works on every version):
// - at::NoGradGuard: include <ATen/core/grad_mode.h>. <ATen/ATen.h> brings it on 1.13, not on 2.x.
#pragma once

#include <torch/version.h>

#include <string>

// at::scaled_dot_product_attention (fused attention) exists from LibTorch 2.0.
#if TORCH_VERSION_MAJOR >= 2
#define OMNITUNE_TORCH_HAS_SDPA 1
#else
#define OMNITUNE_TORCH_HAS_SDPA 0
#endif

namespace omnitune {
// "1.13.1", "2.6.0": the LibTorch this binary was compiled against.
inline std::string torch_version_string() { return TORCH_VERSION; }
}  // namespace omnitune
