// Attention implementations. GQA expands K/V to the query heads by a broadcast view + reshape
// (contiguous groups, as HF repeat_kv). Masked scores take the dtype's lowest finite value rather
// than -inf, like HF eager, so even a degenerate row stays finite.
#include "nn/attention.h"

#include <limits>

#include "core/error.h"
#include "nn/norm.h"
#include "nn/torch_compat.h"

namespace omnitune {

AttentionImpl attention_impl_from_string(const std::string& s) {
  if (s == "auto") return AttentionImpl::Auto;
  if (s == "reference") return AttentionImpl::Reference;
  if (s == "chunked") return AttentionImpl::Chunked;
  if (s == "sdpa") {
    OT_REQUIRE(attention_has_sdpa(), "attention implementation 'sdpa' needs LibTorch >= 2.0 (this build has ",
               torch_version_string(), "): use 'auto' or 'chunked'");
    return AttentionImpl::Sdpa;
  }
  OT_FAIL("unknown attention implementation '", s, "': use auto, reference, chunked or sdpa");
}

const char* attention_impl_name(AttentionImpl impl) {
  switch (impl) {
    case AttentionImpl::Auto: return "auto";
    case AttentionImpl::Reference: return "reference";
    case AttentionImpl::Chunked: return "chunked";
    case AttentionImpl::Sdpa: return "sdpa";
  }
  return "?";
}

bool attention_has_sdpa() {
#if OMNITUNE_TORCH_HAS_SDPA
  return true;
#else
  return false;
#endif
}

AttentionImpl attention_resolve(AttentionImpl impl) {
  if (impl != AttentionImpl::Auto) return impl;
  return attention_has_sdpa() ? AttentionImpl::Sdpa : AttentionImpl::Chunked;
}

namespace {

at::Tensor expand_kv(const at::Tensor& kv, int64_t heads) {
  const int64_t kvh = kv.size(1);
  if (kvh == heads) return kv;
  OT_CHECK(heads % kvh == 0, "query heads ", heads, " not a multiple of KV heads ", kvh);
  auto s = kv.sizes();
  return kv.unsqueeze(2).expand({s[0], kvh, heads / kvh, s[2], s[3]}).reshape({s[0], heads, s[2], s[3]});
}

// The HF-eager math on one block of queries.
at::Tensor attend_block(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        const at::Tensor& allowed, double scale) {
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;
  double lowest = scores.scalar_type() == at::kDouble ? std::numeric_limits<double>::lowest()
                                                      : std::numeric_limits<float>::lowest();
  if (scores.scalar_type() == at::kBFloat16 || scores.scalar_type() == at::kHalf) {
    lowest = scores.scalar_type() == at::kHalf ? -65504.0 : -3.3895313892515355e38;
  }
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), lowest);
  at::Tensor probs = at::softmax(scores, -1, compute_dtype_of(scores.scalar_type())).to(q.scalar_type());
  return at::matmul(probs, v);
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& allowed, double scale, AttentionImpl impl) {
  OT_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects [B, heads, T, d]");
  const int64_t heads = q.size(1), T = q.size(2), S = k.size(2);
  at::Tensor ke = expand_kv(k, heads), ve = expand_kv(v, heads);
  switch (attention_resolve(impl)) {
    case AttentionImpl::Reference:
      return attend_block(q, ke, ve, allowed, scale);
    case AttentionImpl::Chunked: {
      // Bound the score block to ~64 Mi elements: [B, H, chunk, S].
      const int64_t per_row = std::max<int64_t>(1, q.size(0) * heads * S);
      const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(T, (int64_t(64) << 20) / per_row));
      if (chunk >= T) return attend_block(q, ke, ve, allowed, scale);
      std::vector<at::Tensor> outs;
      for (int64_t t0 = 0; t0 < T; t0 += chunk) {
        int64_t n = std::min(chunk, T - t0);
        at::Tensor a = !allowed.defined() || allowed.size(2) == 1 ? allowed : allowed.narrow(2, t0, n);
        outs.push_back(attend_block(q.narrow(2, t0, n), ke, ve, a, scale));
      }
      return at::cat(outs, 2);
    }
    case AttentionImpl::Sdpa:
#if OMNITUNE_TORCH_HAS_SDPA
      // SDPA's default scale is 1/sqrt(d); fold the model's scale into q so every 2.x accepts it.
      // No mask (not an all-true one broadcast to [B, H, T, S]) lets CUDA pick its fused kernels;
      // a mask's last dimension must be contiguous there.
      return at::scaled_dot_product_attention(q * (scale * std::sqrt(double(q.size(-1)))), ke, ve,
                                              allowed.defined() ? c10::optional<at::Tensor>(allowed.contiguous())
                                                                : c10::optional<at::Tensor>(),
                                              0.0, false);
#else
      OT_FAIL("attention implementation 'sdpa' is not available with LibTorch ", torch_version_string());
#endif
    case AttentionImpl::Auto:
      break;
  }
  OT_CHECK(false, "unreachable");
  return {};
}

at::Tensor attention_allowed(const at::Tensor& q_idx, const at::Tensor& k_idx,
                             const at::Tensor& k_valid, const at::Tensor& q_group,
                             const at::Tensor& k_group, int64_t window) {
  at::Tensor qi = q_idx.unsqueeze(-1), ki = k_idx.unsqueeze(-2);  // [B, T, 1], [B, 1, S]
  at::Tensor allowed = ki <= qi;
  if (window > 0) allowed = allowed & (ki > qi - window);
  if (q_group.defined() && k_group.defined()) {
    at::Tensor qg = q_group.unsqueeze(-1), kg = k_group.unsqueeze(-2);
    allowed = allowed | ((qg >= 0) & (qg == kg));
  }
  allowed = allowed & k_valid.unsqueeze(-2);
  allowed = allowed | (ki == qi);
  return allowed.unsqueeze(1);
}

at::Tensor image_groups(const at::Tensor& is_image) {
  at::Tensor img = is_image.to(at::kLong);
  // A run starts where the token is an image token and the previous one is not.
  at::Tensor prev = at::cat({at::zeros_like(img.narrow(1, 0, 1)), img.narrow(1, 0, img.size(1) - 1)}, 1);
  at::Tensor starts = (img == 1) & (prev == 0);
  at::Tensor run_id = starts.to(at::kLong).cumsum(1) - 1;
  return at::where(img == 1, run_id, at::full_like(run_id, -1));
}

}  // namespace omnitune
