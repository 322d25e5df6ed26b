// DenseLinear: at::linear on the stored weight.
#include "nn/linear.h"

#include "core/error.h"

namespace omnitune {

at::Tensor DenseLinear::forward(const at::Tensor& x) const {
  OT_CHECK(weight.defined(), "linear layer '", spec().name, "' has no weight (not loaded)");
  return at::linear(x, weight, bias);
}

void DenseLinear::collect_params(ParamList& out) {
  out.push_back({spec().name + ".weight", &weight, {spec().out_features, spec().in_features}});
  if (spec().bias) out.push_back({spec().name + ".bias", &bias, {spec().out_features}});
}

LinearFactory dense_linear_factory() {
  return [](const LinearSpec& s) -> std::unique_ptr<Linear> { return std::make_unique<DenseLinear>(s); };
}

}  // namespace omnitune
