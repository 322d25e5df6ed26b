// The fused CPU kernels against the unfused LibTorch ops they replace: forward values and the
// gradients of x and w, fp32 and bf16, with and without a gain, Gemma 3 (1 + w) and 3n (w)
// conventions, odd widths (the vector loop's tail), many rows (several threads), and a
// non-contiguous input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard on LibTorch 2.x (nn/torch_compat.h)

#include "nn/fused_cpu.h"
#include "nn/norm.h"

using namespace omnitune;

namespace {

struct Case {
  at::ScalarType dtype;
  int64_t rows, d;
  bool has_w, plus_one;
};

// max |a - b| relative to max |b| (both in fp32).
double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor af = a.to(at::kFloat), bf = b.to(at::kFloat);
  return (af - bf).abs().max().item<double>() / std::max(1e-30, bf.abs().max().item<double>());
}

}  // namespace

TEST(FusedRmsNorm, EqualsTheUnfusedOpsForwardAndBackward) {
  at::set_num_threads(2);
  const std::vector<Case> cases = {
      {at::kFloat, 7, 64, true, true},       {at::kFloat, 300, 1024, true, true}, {at::kFloat, 5, 13, true, false},
      {at::kFloat, 9, 40, false, true},      {at::kBFloat16, 7, 64, true, true},  {at::kBFloat16, 300, 1024, true, true},
      {at::kBFloat16, 5, 13, true, false},   {at::kBFloat16, 9, 40, false, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c10::toString(c.dtype)) + " rows " + std::to_string(c.rows) + " d " + std::to_string(c.d) +
                 (c.has_w ? " w" : " no w") + (c.plus_one ? " 1+w" : " w"));
    at::manual_seed(c.rows * 131 + c.d);
    const at::Tensor x0 = (at::randn({c.rows, c.d}) * 3).to(c.dtype);
    const at::Tensor w0 = c.has_w ? (at::randn({c.d}) * 0.5).to(c.dtype) : at::Tensor();
    const at::Tensor gy = at::randn({c.rows, c.d}).to(c.dtype);
    ASSERT_TRUE(fused_rms_norm_supported(x0, w0));

    at::Tensor xa = x0.clone().requires_grad_(true), xb = x0.clone().requires_grad_(true);
    at::Tensor wa = c.has_w ? w0.clone().requires_grad_(true) : at::Tensor();
    at::Tensor wb = c.has_w ? w0.clone().requires_grad_(true) : at::Tensor();
    at::Tensor ya = fused_rms_norm(xa, wa, 1e-6, c.plus_one);
    at::Tensor yb = rms_norm_unfused(xb, wb, 1e-6, c.plus_one);
    EXPECT_EQ(ya.scalar_type(), c.dtype);
    // fp32: the same products in the same order, only the mean's summation order differs; bf16:
    // one rounding of the same fp32 value, so at most one bf16 step apart (2^-8 relative).
    const double tol = c.dtype == at::kFloat ? 2e-6 : 8e-3;
    EXPECT_LE(rel_diff(ya, yb), tol);
    if (c.dtype == at::kBFloat16) {
      const double same = (ya == yb).to(at::kFloat).mean().item<double>();
      EXPECT_GE(same, 0.99) << "bf16 outputs should round identically almost everywhere";
    }
    ya.backward(gy);
    yb.backward(gy);
    // Gradients: different but equivalent formulas (the fused one is closed form), fp32 inside.
    const double gtol = c.dtype == at::kFloat ? 2e-5 : 2e-2;
    EXPECT_LE(rel_diff(xa.grad(), xb.grad()), gtol);
    if (c.has_w) {
      EXPECT_EQ(wa.grad().scalar_type(), c.dtype);
      EXPECT_LE(rel_diff(wa.grad(), wb.grad()), gtol);
    }
  }
}

TEST(FusedRmsNorm, NonContiguousInputFrozenGainAndNoGradMode) {
  at::manual_seed(3);
  const at::Tensor base = at::randn({6, 32, 8});
  const at::Tensor x = base.transpose(1, 2);  // [6, 8, 32], not contiguous
  const at::Tensor w = at::randn({32});
  EXPECT_LE(rel_diff(fused_rms_norm(x, w, 1e-6, true), rms_norm_unfused(x, w, 1e-6, true)), 2e-6);
  // A frozen gain (LoRA) gets no gradient; x still does.
  at::Tensor xg = x.clone().requires_grad_(true);
  fused_rms_norm(xg, w, 1e-6, true).sum().backward();
  EXPECT_TRUE(xg.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  // Under no_grad (generation, the engine's forward) it is a plain function.
  at::NoGradGuard ng;
  EXPECT_FALSE(fused_rms_norm(x, w, 1e-6, true).requires_grad());
}

TEST(FusedRmsNorm, RmsNormDispatchesOnlyWhatTheKernelTakes) {
  const at::Tensor x = at::randn({4, 16});
  EXPECT_TRUE(fused_rms_norm_supported(x, at::Tensor()));
  EXPECT_TRUE(fused_rms_norm_supported(x.to(at::kBFloat16), at::randn({16})));
  EXPECT_FALSE(fused_rms_norm_supported(x.to(at::kDouble), at::Tensor()));  // gradient checks stay unfused
  EXPECT_FALSE(fused_rms_norm_supported(x, at::randn({15})));
  // The bench switch turns the fused path off for everything, and back on.
  set_fused_cpu_kernels(false);
  EXPECT_FALSE(fused_rms_norm_supported(x, at::Tensor()));
  set_fused_cpu_kernels(true);
  EXPECT_TRUE(fused_rms_norm_supported(x, at::Tensor()));
  // rms_norm on fp64 is the unfused path, bit for bit.
  const at::Tensor xd = x.to(at::kDouble), wd = at::randn({16}, at::kDouble);
  EXPECT_TRUE(rms_norm(xd, wd, 1e-6, true).equal(rms_norm_unfused(xd, wd, 1e-6, true)));
}
