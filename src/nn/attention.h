// Scaled dot-product attention with GQA and an explicit boolean "may attend" mask, in three
// implementations that must agree: a plain reference (materialises all scores; the yardstick for
// tests), a query-chunked path bounded in memory (LibTorch 1.13), and LibTorch 2.x's fused
// at::scaled_dot_product_attention. Numerics follow HF eager: scores in the activation dtype,
// softmax in fp32, probabilities cast back before multiplying V.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace omnitune {

enum class AttentionImpl { Auto, Reference, Chunked, Sdpa };

// Parses "auto" | "reference" | "chunked" | "sdpa" (Error otherwise; sdpa needs LibTorch >= 2.0).
AttentionImpl attention_impl_from_string(const std::string& s);
const char* attention_impl_name(AttentionImpl impl);
// True when this build has the fused path.
bool attention_has_sdpa();
// The kernel `impl` runs on this build: Auto becomes sdpa where this LibTorch has it, else chunked.
AttentionImpl attention_resolve(AttentionImpl impl);

// q: [B, H, T, d]; k, v: [B, K, S, d] with H % K == 0 (query head h reads KV head h / (H/K));
// allowed: bool, broadcastable to [B, 1, T, S]; every query row must allow at least one key; an
// undefined tensor means every query sees every key (bidirectional encoders).
// Returns [B, H, T, d].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& allowed, double scale, AttentionImpl impl);

// Which keys each query may see, from absolute sequence indices (not RoPE positions):
//   causal (k <= q), within `window` if window > 0 (k > q - window), OR-ed with the image overlay
//   (same image group >= 0 on both sides: tokens of one image see each other both ways), AND-ed
//   with key validity (padding), and a query always sees its own key so no row is empty.
// q_idx [B, T], k_idx [B, S] int64; k_valid [B, S] bool; q_group [B, T] / k_group [B, S] int64
// with -1 for text, or undefined for no overlay. Returns bool [B, 1, T, S].
at::Tensor attention_allowed(const at::Tensor& q_idx, const at::Tensor& k_idx,
                             const at::Tensor& k_valid, const at::Tensor& q_group,
                             const at::Tensor& k_group, int64_t window);

// Numbers maximal runs of `is_image` (bool [B, T]) 0, 1, 2, ... per row; -1 elsewhere.
at::Tensor image_groups(const at::Tensor& is_image);

}  // namespace omnitune
