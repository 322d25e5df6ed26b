// Parameter helpers: deterministic random initialisation for tests and benchmarks (a random-weight
// model of any real shape, with no checkpoint) and size accounting.
#include "nn/params.h"

#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"

namespace omnitune {

void params_init_random(ParamList& params, const at::TensorOptions& options, double std, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (NamedParam& p : params) {
    if (p.tensor->defined()) continue;
    at::Tensor t = at::empty(p.shape, at::TensorOptions().dtype(at::kFloat));
    t.normal_(p.centre == ParamCentre::One ? 1.0 : 0.0, std, gen);
    *p.tensor = t.to(options);
  }
}

int64_t params_numel(const ParamList& params) {
  int64_t n = 0;
  for (const NamedParam& p : params) {
    int64_t k = 1;
    for (int64_t d : p.shape) k *= d;
    n += k;
  }
  return n;
}

}  // namespace omnitune
