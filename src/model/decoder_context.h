// What every decoder layer of one forward call shares (Gemma 3 and Gemma 3n): RoPE tables for both
// layer types, absolute sequence indices, padding, the image overlay and the attention kernel.
#pragma once

#include <ATen/ATen.h>

#include "nn/attention.h"
#include "nn/rope.h"

namespace omnitune {

struct DecoderContext {
  RopeTables rope_global, rope_local;  // [B, T, head_dim]
  at::Tensor q_idx;     // [B, T] absolute sequence index of each query (cache position)
  at::Tensor valid;     // [B, T] bool: real token (false = padding)
  at::Tensor group;     // [B, T] image group (-1 text) or undefined: bidirectional image overlay
  int64_t start = 0;    // sequence index of the first query
  AttentionImpl attn_impl = AttentionImpl::Auto;
};

// RoPE tables of both layer types (in `dtype`) for positions rope_pos [B, T], sequence indices
// start.., validity (undefined = all real) and the optional image overlay.
DecoderContext decoder_context_make(const RopeSpec& global, const RopeSpec& local, int64_t head_dim,
                                    const at::Tensor& rope_pos, const at::Tensor& valid,
                                    const at::Tensor& group, int64_t start, AttentionImpl impl,
                                    at::ScalarType dtype);

}  // namespace omnitune
