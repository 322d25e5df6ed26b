#include "parallel/tp_linear.h"

#include "core/error.h"
#include "parallel/tp_ops.h"

namespace omnitune {

at::Tensor ColumnParallelLinear::forward(const at::Tensor& x) const {
  return DenseLinear::forward(tp_copy(x, tp_.comm));
}

at::Tensor RowParallelLinear::forward(const at::Tensor& x) const {
  at::Tensor y = tp_reduce(at::linear(x, weight), tp_.comm);
  return bias.defined() ? y + bias : y;
}

at::Tensor KvHeadSelectLinear::forward(const at::Tensor& x) const {
  const int64_t head = tp_.rank / (tp_.size / kv_heads_);
  at::Tensor w = weight.narrow(0, head * head_dim_, head_dim_);
  at::Tensor b = bias.defined() ? bias.narrow(0, head * head_dim_, head_dim_) : at::Tensor();
  return at::linear(tp_copy(x, tp_.comm), w, b);
}

LinearFactory tp_linear_factory(const TpDims& cfg, TpGroup tp) {
  return [cfg, tp](const LinearSpec& s) -> std::unique_ptr<Linear> {
    if (tp.size == 1) return std::make_unique<DenseLinear>(s);
    const TpParamPlan plan = tp_param_plan(cfg, s.name + ".weight", tp.size);
    const bool lora_a = s.name.size() > 7 && s.name.compare(s.name.size() - 7, 7, ".lora_A") == 0;
    if (plan.split == TpSplit::Rows) return std::make_unique<ColumnParallelLinear>(s, tp);
    if (plan.split == TpSplit::Cols) return std::make_unique<RowParallelLinear>(s, tp);
    if (plan.partial_grad && !lora_a)  // replicated K/V weights (tp > kv heads) and their LoRA B
      return std::make_unique<KvHeadSelectLinear>(s, tp, cfg.kv_heads, cfg.head_dim);
    return std::make_unique<DenseLinear>(s);
  };
}

}  // namespace omnitune
