// Gemma 3n audio encoder math (gemma-spec D.9). `clip` is the config's gradient_clipping value,
// used by HF as a clamp bound on activations.
#include "model/gemma3n_audio.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace omnitune {
namespace {

RmsNorm gain_norm(const std::string& name, int64_t dim, double eps) { return RmsNorm{name, dim, eps, false, {}}; }

// Cumulative group norm over [B, T, F, C] (one group): statistics of all frames up to t, each
// frame's squared deviations taken from its own running mean; computed in fp32.
at::Tensor cumulative_group_norm(const at::Tensor& x, const at::Tensor& scale, double eps) {
  const at::ScalarType ct = compute_dtype_of(x.scalar_type());
  at::Tensor xf = x.to(ct);
  const std::vector<int64_t> dims{2, 3};
  const double per_frame = double(x.size(2) * x.size(3));
  at::Tensor count = at::arange(1, x.size(1) + 1, xf.options()).view({1, -1, 1, 1}) * per_frame;
  at::Tensor mean = xf.sum(dims, /*keepdim=*/true).cumsum(1) / count;
  at::Tensor var = (xf - mean).pow(2).sum(dims, /*keepdim=*/true).cumsum(1) / count;
  at::Tensor y = (xf - mean) * at::rsqrt(var + eps) * scale.to(ct).view({1, 1, 1, -1});
  return y.to(x.scalar_type());
}

}  // namespace

// ---- Conformer parts ---------------------------------------------------------------------------

at::Tensor Gemma3nAudioFeedForward::forward(const at::Tensor& x, double clip, double residual_weight) const {
  at::Tensor h = ffw_layer_1->forward(pre_layer_norm.forward(x.clamp(-clip, clip)));
  h = ffw_layer_2->forward(at::silu(h)).clamp(-clip, clip);
  return x + post_layer_norm.forward(h) * residual_weight;
}

void Gemma3nAudioFeedForward::collect_params(ParamList& out) {
  pre_layer_norm.collect_params(out);
  ffw_layer_1->collect_params(out);
  ffw_layer_2->collect_params(out);
  post_layer_norm.collect_params(out);
}

at::Tensor Gemma3nAudioAttention::forward(const at::Tensor& x, const at::Tensor& pad, double clip) const {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  const auto dt = x.scalar_type();
  at::Tensor h = pre_attn_norm.forward(x.clamp(-clip, clip));
  // Queries scaled by head_dim^-1/2 / softplus(0) (a float32 constant) and softplus(per_dim_scale).
  const at::Tensor q_scale =
      at::scalar_tensor(std::pow(double(head_dim), -0.5), at::TensorOptions().dtype(at::kFloat).device(x.device())) /
      at::softplus(at::zeros({}, at::TensorOptions().dtype(at::kFloat).device(x.device())));
  at::Tensor q = q_proj->forward(h).view({B, T, heads, head_dim});
  q = q * q_scale.to(dt) * at::softplus(per_dim_scale).to(dt);
  q = q.permute({0, 2, 1, 3});                                        // [B, N, T, H]
  at::Tensor k = k_proj->forward(h).view({B, T, heads, head_dim}).permute({0, 2, 1, 3});
  at::Tensor v = v_proj->forward(h).view({B, T, heads, head_dim}).permute({0, 2, 1, 3});

  // Relative-position term: R[d] = pos_proj(sinusoid(d)) for distances d = 0..max_past.
  const int64_t half = C / 2;
  const double log_inc = std::log(1.0e4) / double(std::max<int64_t>(half - 1, 1));
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(x.device());
  at::Tensor inv = at::exp(at::arange(half, f32) * -log_inc);
  at::Tensor dist = at::arange(max_past + 1, f32).unsqueeze(-1);
  at::Tensor sinus = at::cat({at::sin(dist * inv), at::cos(dist * inv)}, -1).to(dt);  // [D+1, C]
  at::Tensor R = pos_proj->forward(sinus).view({max_past + 1, heads, head_dim}).permute({1, 2, 0});  // [N, H, D+1]
  at::Tensor rel = at::matmul(q, R);                                  // [B, N, T, D+1]

  const auto i64 = at::TensorOptions().dtype(at::kLong).device(x.device());
  at::Tensor delta = at::arange(T, i64).unsqueeze(1) - at::arange(T, i64).unsqueeze(0);  // t - t'
  at::Tensor near = delta.ge(0).logical_and(delta.le(max_past));
  at::Tensor rel_tt = rel.gather(-1, delta.clamp(0, max_past).expand({B, heads, T, T}));
  at::Tensor logits = at::matmul(q, k.transpose(-2, -1)) + rel_tt;
  logits = at::tanh(logits / logit_cap) * logit_cap;
  at::Tensor allowed = near.view({1, 1, T, T}).logical_and(pad.logical_not().view({B, 1, 1, T}));
  // The lowest value of the activation dtype (HF: finfo(dtype).min); float's lowest overflows bf16.
  const double lowest = dt == at::kDouble     ? std::numeric_limits<double>::lowest()
                        : dt == at::kBFloat16 ? double(std::numeric_limits<c10::BFloat16>::lowest())
                        : dt == at::kHalf     ? double(std::numeric_limits<c10::Half>::lowest())
                                              : double(std::numeric_limits<float>::lowest());
  logits = logits.masked_fill(allowed.logical_not(), lowest);
  at::Tensor probs = at::softmax(logits, -1, compute_dtype_of(dt)).to(dt);
  at::Tensor ctx = at::matmul(probs, v).permute({0, 2, 1, 3}).reshape({B, T, C});
  return x + post_norm.forward(post->forward(ctx).clamp(-clip, clip));
}

void Gemma3nAudioAttention::collect_params(ParamList& out) {
  pre_attn_norm.collect_params(out);
  out.push_back({name + ".attn.per_dim_scale", &per_dim_scale, {head_dim}});
  q_proj->collect_params(out);
  k_proj->collect_params(out);
  v_proj->collect_params(out);
  pos_proj->collect_params(out);
  post->collect_params(out);
  post_norm.collect_params(out);
}

at::Tensor Gemma3nAudioLightConv::forward(const at::Tensor& x, double clip) const {
  at::Tensor h = at::glu(linear_start->forward(pre_layer_norm.forward(x)), -1);  // [B, T, C]
  h = at::constant_pad_nd(h.permute({0, 2, 1}), {kernel - 1, 0});             // causal: pad the past
  h = at::conv1d(h, depthwise_weight, at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1},
                 depthwise_weight.size(0)).permute({0, 2, 1});
  h = at::silu(conv_norm.forward(h.clamp(-clip, clip)));
  return x + linear_end->forward(h);
}

void Gemma3nAudioLightConv::collect_params(ParamList& out) {
  pre_layer_norm.collect_params(out);
  linear_start->collect_params(out);
  out.push_back({name + ".depthwise_conv1d.weight", &depthwise_weight, {pre_layer_norm.dim, 1, kernel}});
  conv_norm.collect_params(out);
  linear_end->collect_params(out);
}

at::Tensor Gemma3nConformerBlock::forward(const at::Tensor& x_in, const at::Tensor& pad, double clip,
                                          double residual_weight) const {
  at::Tensor x = ffw_start.forward(x_in, clip, residual_weight);
  x = attention.forward(x, pad, clip);
  x = x * pad.logical_not().unsqueeze(-1).to(x.scalar_type());
  x = lconv.forward(x, clip);
  x = ffw_end.forward(x, clip, residual_weight);
  return norm.forward(x.clamp(-clip, clip));
}

void Gemma3nConformerBlock::collect_params(ParamList& out) {
  ffw_start.collect_params(out);
  attention.collect_params(out);
  lconv.collect_params(out);
  ffw_end.collect_params(out);
  norm.collect_params(out);
}

// ---- encoder -----------------------------------------------------------------------------------

Gemma3nAudioEncoder::Gemma3nAudioEncoder(const Gemma3nAudioConfig& cfg, const std::string& prefix,
                                         const LinearFactory& make_linear)
    : cfg_(cfg), prefix_(prefix) {
  const int64_t C = cfg.hidden_size, N = cfg.conf_num_attention_heads;
  OT_REQUIRE(cfg.sscp_conv_channel_size.size() == 2 && cfg.sscp_conv_kernel_size.size() == 2 &&
                 cfg.sscp_conv_stride_size.size() == 2,
             "Gemma 3n audio: the sub-sample projection has exactly two convolutions");
  OT_REQUIRE(C % N == 0, "Gemma 3n audio: hidden_size ", C, " is not a multiple of ", N, " heads");
  const double eps = cfg.rms_norm_eps;
  int64_t f = cfg.input_feat_size, in_ch = 1;
  for (size_t i = 0; i < 2; ++i) {
    ConvBlock b;
    b.name = prefix + ".subsample_conv_projection.conv_" + std::to_string(i);
    const int64_t kw = cfg.sscp_conv_kernel_size[i].at(1);
    b.stride_t = cfg.sscp_conv_stride_size[i].at(0);
    b.stride_f = cfg.sscp_conv_stride_size[i].at(1);
    convs_.push_back(b);
    f = (f + 2 - kw) / b.stride_f + 1;  // frequency padded by 1 on both sides
    in_ch = cfg.sscp_conv_channel_size[i];
  }
  input_proj_linear_ = make_linear({prefix + ".subsample_conv_projection.input_proj_linear", in_ch * f, C, false});
  for (int64_t j = 0; j < cfg.conf_num_hidden_layers; ++j) {
    const std::string n = prefix + ".conformer." + std::to_string(j);
    auto b = std::make_unique<Gemma3nConformerBlock>();
    for (auto [ff, nm] : {std::pair{&b->ffw_start, ".ffw_layer_start"}, std::pair{&b->ffw_end, ".ffw_layer_end"}}) {
      ff->pre_layer_norm = gain_norm(n + nm + ".pre_layer_norm", C, eps);
      ff->post_layer_norm = gain_norm(n + nm + ".post_layer_norm", C, eps);
      ff->ffw_layer_1 = make_linear({n + nm + ".ffw_layer_1", C, 4 * C, false});
      ff->ffw_layer_2 = make_linear({n + nm + ".ffw_layer_2", 4 * C, C, false});
    }
    Gemma3nAudioAttention& a = b->attention;
    a.name = n + ".attention";
    a.heads = N;
    a.head_dim = C / N;
    a.max_past = std::max<int64_t>(0, cfg.conf_attention_context_left - 1);
    a.logit_cap = cfg.conf_attention_logit_cap;
    a.pre_attn_norm = gain_norm(a.name + ".pre_attn_norm", C, eps);
    a.post_norm = gain_norm(a.name + ".post_norm", C, eps);
    a.q_proj = make_linear({a.name + ".attn.q_proj", C, C, false});
    a.k_proj = make_linear({a.name + ".attn.k_proj", C, C, false});
    a.v_proj = make_linear({a.name + ".attn.v_proj", C, C, false});
    a.pos_proj = make_linear({a.name + ".attn.relative_position_embedding.pos_proj", C, C, false});
    a.post = make_linear({a.name + ".post", C, C, false});
    Gemma3nAudioLightConv& l = b->lconv;
    l.name = n + ".lconv1d";
    l.kernel = cfg.conf_conv_kernel_size;
    l.pre_layer_norm = gain_norm(l.name + ".pre_layer_norm", C, eps);
    l.conv_norm = gain_norm(l.name + ".conv_norm", C, eps);
    l.linear_start = make_linear({l.name + ".linear_start", C, 2 * C, false});
    l.linear_end = make_linear({l.name + ".linear_end", C, C, false});
    b->norm = gain_norm(n + ".norm", C, eps);
    blocks_.push_back(std::move(b));
  }
  OT_REQUIRE(cfg.conf_attention_context_right == 0, "Gemma 3n audio: right attention context ",
             cfg.conf_attention_context_right, " is not supported (the released models use 0)");
}

at::Tensor Gemma3nAudioEncoder::conv_block(const ConvBlock& b, const at::Tensor& x) const {
  const int64_t kh = b.weight.size(2);
  // Time padded at the end only (kernel - 1 frames), frequency by one on each side.
  at::Tensor h = at::constant_pad_nd(x, {1, 1, 0, kh - 1});
  h = at::conv2d(h, b.weight, at::Tensor(), at::IntArrayRef{b.stride_t, b.stride_f});  // [B, C, T, F]
  h = cumulative_group_norm(h.permute({0, 2, 3, 1}), b.norm_weight, cfg_.sscp_conv_group_norm_eps);
  return at::relu(h.permute({0, 3, 1, 2}));
}

int64_t Gemma3nAudioEncoder::frames_after_subsampling(int64_t T) const {
  for (size_t i = 0; i < 2; ++i) {
    const int64_t kh = cfg_.sscp_conv_kernel_size[i].at(0), s = cfg_.sscp_conv_stride_size[i].at(0);
    T = (T + kh - 1 - kh) / s + 1;
  }
  return T;
}

Gemma3nAudioEncoder::Output Gemma3nAudioEncoder::forward(const at::Tensor& mel, const at::Tensor& mel_pad) const {
  OT_REQUIRE(mel.dim() == 3 && mel.size(2) == cfg_.input_feat_size, "audio features must be [batch, frames, ",
             cfg_.input_feat_size, "]");
  at::Tensor h = mel.unsqueeze(1);  // [B, 1, T, F]
  for (const ConvBlock& b : convs_) h = conv_block(b, h);
  const int64_t B = h.size(0), T = h.size(2);
  h = input_proj_linear_->forward(h.permute({0, 2, 3, 1}).reshape({B, T, -1}));  // frequency-major, channel-minor

  // Each subsampled frame takes the padding flag of the first mel frame of its receptive field.
  int64_t stride = 1;
  for (const auto& s : cfg_.sscp_conv_stride_size) stride *= s.at(0);
  at::Tensor idx = (at::arange(T, mel_pad.options().dtype(at::kLong)) * stride).clamp_max(mel_pad.size(1) - 1);
  at::Tensor pad = mel_pad.index_select(1, idx);

  const double clip = cfg_.gradient_clipping, rw = cfg_.conf_residual_weight;
  for (const auto& blk : blocks_) h = blk->forward(h, pad, clip, rw);
  if (cfg_.conf_reduction_factor > 1) {
    const int64_t r = cfg_.conf_reduction_factor;
    at::Tensor keep = at::arange(0, T, r, idx.options());
    h = h.index_select(1, keep);
    pad = pad.index_select(1, keep);
  }
  return {h.masked_fill(pad.unsqueeze(-1), 0.0), pad};
}

void Gemma3nAudioEncoder::collect_params(ParamList& out) {
  int64_t in_ch = 1;
  for (size_t i = 0; i < convs_.size(); ++i) {
    ConvBlock& b = convs_[i];
    const int64_t oc = cfg_.sscp_conv_channel_size[i];
    out.push_back({b.name + ".conv.weight", &b.weight,
                   {oc, in_ch, cfg_.sscp_conv_kernel_size[i].at(0), cfg_.sscp_conv_kernel_size[i].at(1)}});
    out.push_back({b.name + ".norm.weight", &b.norm_weight, {oc}, ParamCentre::One});
    in_ch = oc;
  }
  input_proj_linear_->collect_params(out);
  for (auto& blk : blocks_) blk->collect_params(out);
}

}  // namespace omnitune
