// Deterministic test tensors from std::mt19937_64 (independent of LibTorch's RNG), so every rank
// can rebuild every other rank's input and compute the expected collective result by itself.
#pragma once

#include <ATen/ATen.h>

#include <random>
#include <vector>

namespace omnitune::testing {

// Normal values (floating dtypes) or integers in [-1000, 1000] (integer dtypes), rounded to dtype.
inline at::Tensor seeded_tensor(uint64_t seed, int64_t n, at::ScalarType dt) {
  std::mt19937_64 gen(seed);
  std::vector<double> v(n);
  if (at::isFloatingType(dt)) {
    std::normal_distribution<double> d(0.0, 1.0);
    for (auto& x : v) x = d(gen);
  } else {
    std::uniform_int_distribution<int> d(-1000, 1000);
    for (auto& x : v) x = d(gen);
  }
  return at::from_blob(v.data(), {n}, at::kDouble).clone().to(dt);
}

// Seed of rank r's input in test case `tag`.
inline uint64_t seed_of(int tag, int rank) { return 1000003ull * tag + 7919ull * rank + 17; }

}  // namespace omnitune::testing
