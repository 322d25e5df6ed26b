// Proves that each LibTorch build sees the feature set nn/torch_compat.h claims: on 2.x the fused
// attention (at::scaled_dot_product_attention) exists and, with an explicit causal mask, equals the
// plain softmax(Q K^T * scale + mask) V math; on 1.13 the feature macro is off. CI compiles this
// file against both versions, so a wrong version check fails here rather than in the model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "nn/torch_compat.h"

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(TorchCompat, VersionStringIsTheCompiledAgainstVersion) {
  const std::string major_minor =
      std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + ".";
  EXPECT_TRUE(starts_with(omnitune::torch_version_string(), major_minor))
      << omnitune::torch_version_string() << " vs " << major_minor;
}

#if OMNITUNE_TORCH_HAS_SDPA

TEST(TorchCompat, SdpaIsOnFromLibTorch2) { EXPECT_GE(TORCH_VERSION_MAJOR, 2); }

// Plain attention from the definition: softmax(Q K^T * scale + mask) V, with an additive mask.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& additive_mask) {
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  return at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale + additive_mask, -1), v);
}

TEST(TorchCompat, SdpaWithExplicitCausalMaskMatchesSoftmaxReference) {
  at::manual_seed(7);
  const int64_t B = 2, H = 3, T = 6, D = 16;
  at::Tensor q = at::randn({B, H, T, D}), k = at::randn({B, H, T, D}), v = at::randn({B, H, T, D});
  // Causal: query i sees keys 0..i. SDPA's boolean mask is true where attention is allowed; its
  // float mask is added to the scores. Both forms must give the reference result.
  at::Tensor allowed = at::ones({T, T}, at::kBool).tril();
  at::Tensor additive = at::zeros({T, T}).masked_fill(allowed.logical_not(),
                                                      -std::numeric_limits<float>::infinity());
  at::Tensor expected = reference_attention(q, k, v, additive);
  // SDPA's default scale is 1/sqrt(D) on every 2.x (the explicit `scale` argument came in 2.1).
  at::Tensor with_bool = at::scaled_dot_product_attention(q, k, v, allowed, 0.0, false);
  at::Tensor with_float = at::scaled_dot_product_attention(q, k, v, additive, 0.0, false);
  ASSERT_EQ(with_bool.sizes(), expected.sizes());
  EXPECT_LT((with_bool - expected).abs().max().item<float>(), 1e-5f);
  EXPECT_LT((with_float - expected).abs().max().item<float>(), 1e-5f);
  // The mask matters: the first query sees only the first key, so its output is that key's value.
  EXPECT_LT((with_bool.select(2, 0) - v.select(2, 0)).abs().max().item<float>(), 1e-5f);
}

#else

TEST(TorchCompat, NoSdpaOnLibTorch1_13) {
  EXPECT_EQ(OMNITUNE_TORCH_HAS_SDPA, 0);
  EXPECT_EQ(TORCH_VERSION_MAJOR, 1);
  EXPECT_EQ(TORCH_VERSION_MINOR, 13);
  EXPECT_TRUE(starts_with(omnitune::torch_version_string(), "1.13."))
      << omnitune::torch_version_string();
}

#endif

}  // namespace
