// The parallel engine proven equal to one rank (issue 5): the same tiny Gemma 3 VLM, the same
// data, 5 AdamW steps with gradient accumulation 2, trained on every (DP, TP) mesh that fits the
// job: per-step losses, gradient norms and final parameters must match the single-rank run.
// Under -np 2: (1,1) (2,1) (1,2). Under -np 4 also: (4,1) (2,2) (1,4).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "parallel_harness.h"

using namespace omnitune;
using namespace omnitune::ptest;

namespace {

struct Fixture {
  Gemma3Config cfg = tiny_vlm();
  std::map<std::string, at::Tensor> weights = full_weights(cfg, 7);
};

Fixture& fx() {
  static Fixture f;
  return f;
}

double rel(double a, double b) { return std::abs(a - b) / std::max(1e-12, std::abs(b)); }

void expect_same(const RunResult& got, const RunResult& ref, double tol, const std::string& what) {
  ASSERT_EQ(got.losses.size(), ref.losses.size());
  for (size_t s = 0; s < ref.losses.size(); ++s) {
    EXPECT_LT(rel(got.losses[s], ref.losses[s]), tol) << what << " step " << s << " loss " << got.losses[s]
                                                      << " vs " << ref.losses[s];
    EXPECT_LT(rel(got.norms[s], ref.norms[s]), tol) << what << " step " << s << " grad norm " << got.norms[s]
                                                    << " vs " << ref.norms[s];
  }
  ASSERT_EQ(got.params.size(), ref.params.size());
  for (const auto& [name, want] : ref.params) {
    const at::Tensor& have = got.params.at(name);
    ASSERT_EQ(have.sizes(), want.sizes()) << what << " " << name;
    // Relative in the tensor norm: AdamW turns last-bit differences of near-zero gradients into
    // visible per-element differences (update ~ g / (|g| + eps)), the norm is robust to that.
    const double diff = (have - want).norm().item<double>() / std::max(1e-12, want.norm().item<double>());
    EXPECT_LT(diff, tol) << what << " parameter " << name;
  }
}

// Runs (dp, tp) on groups of dp*tp ranks and compares with the single-rank reference.
void check_mesh(int dp, int tp, const Variant& v, double tol) {
  auto world = MpiComm::world();
  if (world->size() % (dp * tp) != 0) GTEST_SKIP() << "mesh needs a multiple of " << dp * tp << " ranks";
  auto single = groups_of(*world, 1);
  RunResult ref = train(*single, 1, 1, v, fx().weights, fx().cfg);
  auto group = groups_of(*world, dp * tp);
  RunResult got = train(*group, dp, tp, v, fx().weights, fx().cfg);
  // The run must actually learn, or equality would prove little.
  EXPECT_LT(ref.losses.back(), ref.losses.front());
  expect_same(got, ref, tol, "dp" + std::to_string(dp) + " tp" + std::to_string(tp));
}

}  // namespace

TEST(ParallelEquivalence, Dp2) { check_mesh(2, 1, Variant{}, 1e-5); }

TEST(ParallelEquivalence, Tp2) { check_mesh(1, 2, Variant{}, 1e-5); }
TEST(ParallelEquivalence, Dp4) { check_mesh(4, 1, Variant{}, 1e-5); }
TEST(ParallelEquivalence, Dp2Tp2) { check_mesh(2, 2, Variant{}, 1e-5); }
// tp 4 exceeds the 2 KV heads: K/V weights replicated, partial gradients summed over TP.
TEST(ParallelEquivalence, Tp4ReplicatedKv) { check_mesh(1, 4, Variant{}, 1e-5); }
