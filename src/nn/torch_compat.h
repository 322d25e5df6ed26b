// LibTorch version differences, in one place: feature macros from <torch/version.h> so the code
// builds against Debian 12's LibTorch 1.13 and the 2.x of cluster containers.
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
