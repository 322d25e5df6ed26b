#include "nn/lora.h"

#include "core/error.h"

namespace omnitune {

LoraLinear::LoraLinear(std::unique_ptr<Linear> base, const LoraOptions& opt, const LinearFactory& make_linear)
    : Linear(base->spec()), base_(std::move(base)), scale_(opt.alpha / static_cast<double>(opt.rank)),
      dropout_(opt.dropout), training_(opt.training) {
  OT_REQUIRE(opt.rank > 0, "peft.dim (LoRA rank) must be positive, got ", opt.rank);
  const LinearSpec& s = spec();
  a_ = make_linear({s.name + ".lora_A", s.in_features, opt.rank, false});
  b_ = make_linear({s.name + ".lora_B", opt.rank, s.out_features, false});
}

at::Tensor LoraLinear::forward(const at::Tensor& x) const {
  at::Tensor in = (training_ && *training_ && dropout_ > 0) ? at::dropout(x, dropout_, true) : x;
  return base_->forward(x) + b_->forward(a_->forward(in)) * scale_;
}

void LoraLinear::collect_params(ParamList& out) {
  base_->collect_params(out);
  a_->collect_params(out);
  b_->collect_params(out);
}

LinearFactory lora_linear_factory(LinearFactory inner, const LoraOptions& opt,
                                  std::function<bool(const std::string& module)> matches) {
  return [inner, opt, matches](const LinearSpec& s) -> std::unique_ptr<Linear> {
    std::unique_ptr<Linear> base = inner(s);
    if (!matches(s.name)) return base;
    return std::make_unique<LoraLinear>(std::move(base), opt, inner);
  };
}

bool is_lora_param(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

}  // namespace omnitune
