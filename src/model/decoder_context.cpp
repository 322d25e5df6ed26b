#include "model/decoder_context.h"

namespace omnitune {

DecoderContext decoder_context_make(const RopeSpec& global, const RopeSpec& local, int64_t head_dim,
                                    const at::Tensor& rope_pos, const at::Tensor& valid,
                                    const at::Tensor& group, int64_t start, AttentionImpl impl,
                                    at::ScalarType dtype) {
  DecoderContext ctx;
  ctx.rope_global = rope_tables(global, head_dim, rope_pos, dtype);
  ctx.rope_local = rope_tables(local, head_dim, rope_pos, dtype);
  const int64_t B = rope_pos.size(0), T = rope_pos.size(1);
  ctx.q_idx = at::arange(start, start + T, rope_pos.options().dtype(at::kLong)).unsqueeze(0).expand({B, T});
  ctx.valid = valid.defined() ? valid.to(at::kBool) : at::ones({B, T}, rope_pos.options().dtype(at::kBool));
  ctx.group = group;
  ctx.start = start;
  ctx.attn_impl = impl;
  return ctx;
}

}  // namespace omnitune
