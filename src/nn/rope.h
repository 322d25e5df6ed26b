// Rotary position embeddings in HF's rotate-half convention: angles in fp32 from per-row position
// ids (left padding gives each row its own positions), cos/sin cast to the activation dtype, the
// rotation in the activation dtype (gemma-spec A.6).
#pragma once

#include <ATen/ATen.h>

namespace omnitune {

struct RopeSpec {
  double theta = 10000.0;
  double linear_factor = 1.0;  // "linear" scaling divides the inverse frequencies by this
};

struct RopeTables {
  at::Tensor cos;  // [B, T, head_dim], activation dtype
  at::Tensor sin;
};

// positions: [B, T] int64. Returns tables for head_dim on positions' device, in `dtype`.
RopeTables rope_tables(const RopeSpec& spec, int64_t head_dim, const at::Tensor& positions,
                       at::ScalarType dtype);

// x: [B, heads, T, head_dim]. Applies the rotation with tables [B, T, head_dim].
at::Tensor rope_apply(const at::Tensor& x, const RopeTables& t);

}  // namespace omnitune
