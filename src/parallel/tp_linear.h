// Tensor-parallel linear layers (Megatron): the model creates its linears through a LinearFactory,
// so swapping in these needs no model change. Every layer reports its parameters with their FULL
// shapes (like DenseLinear); tp_localize_shapes() turns them into the rank's shapes, so loaders
// and initialisers see one consistent list.
#pragma once

#include "nn/linear.h"
#include "parallel/tp_plan.h"

namespace omnitune {

// y_local = f(x) W_localᵀ (+ b_local): output features split, input replicated.
class ColumnParallelLinear : public DenseLinear {
 public:
  ColumnParallelLinear(LinearSpec spec, TpGroup tp) : DenseLinear(std::move(spec)), tp_(tp) {}
  at::Tensor forward(const at::Tensor& x) const override;

 private:
  TpGroup tp_;
};

// y = g(x_local W_localᵀ) + b: input features split, output replicated (bias added once).
class RowParallelLinear : public DenseLinear {
 public:
  RowParallelLinear(LinearSpec spec, TpGroup tp) : DenseLinear(std::move(spec)), tp_(tp) {}
  at::Tensor forward(const at::Tensor& x) const override;
  int64_t input_offset() const override { return tp_.rank * (spec().in_features / tp_.size); }

 private:
  TpGroup tp_;
};

// K/V projection when tp exceeds the KV heads: the full weight is replicated and each rank
// computes only the KV head its query heads attend with (head = rank / (tp / kv_heads)).
class KvHeadSelectLinear : public DenseLinear {
 public:
  KvHeadSelectLinear(LinearSpec spec, TpGroup tp, int64_t kv_heads, int64_t head_dim)
      : DenseLinear(std::move(spec)), tp_(tp), kv_heads_(kv_heads), head_dim_(head_dim) {}
  at::Tensor forward(const at::Tensor& x) const override;

 private:
  TpGroup tp_;
  int64_t kv_heads_, head_dim_;
};

// The TP plan as a factory: language-model projections become column/row/KV-select layers, tower,
// projector and embedder linears stay dense (replicated).
LinearFactory tp_linear_factory(const TpDims& dims, TpGroup tp);

}  // namespace omnitune
