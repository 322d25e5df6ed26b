// RoPE tables and application.
#include "nn/rope.h"

#include "core/error.h"

namespace omnitune {

RopeTables rope_tables(const RopeSpec& spec, int64_t head_dim, const at::Tensor& positions,
                       at::ScalarType dtype) {
  OT_CHECK(positions.dim() == 2, "positions must be [B, T]");
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(positions.device());
  // inv_freq_i = 1 / theta^(2i/d), exponent in fp32, then linear scaling.
  at::Tensor exponent = at::arange(0, head_dim, 2, f32) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(at::scalar_tensor(spec.theta, f32), exponent);
  if (spec.linear_factor != 1.0) inv_freq = inv_freq / spec.linear_factor;
  at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, d/2]
  at::Tensor emb = at::cat({angles, angles}, -1);                          // [B, T, d]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor rope_apply(const at::Tensor& x, const RopeTables& t) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  at::Tensor c = t.cos.unsqueeze(1), s = t.sin.unsqueeze(1);  // broadcast over heads
  return x * c + rotated * s;
}

}  // namespace omnitune
