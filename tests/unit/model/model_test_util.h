// Helpers shared by the model tests (LibTorch): the largest absolute difference of two tensors of
// the same shape, in float64.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace omnitune::test_util {

inline double max_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace omnitune::test_util
