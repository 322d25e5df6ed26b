// Gemma 3 decoder math, following gemma-spec A.3-A.9 step by step.
#include "model/gemma3_text.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {

at::Tensor Gemma3Attention::forward(const at::Tensor& x, const DecoderContext& ctx, LayerKV* cache) const {
  const int64_t B = x.size(0), T = x.size(1);
  // Head counts come from the projections' outputs, so tensor-parallel layers (fewer local heads)
  // need no change here.
  at::Tensor q = q_proj->forward(x).view({B, T, -1, head_dim});
  at::Tensor k = k_proj->forward(x).view({B, T, -1, head_dim});
  at::Tensor v = v_proj->forward(x).view({B, T, -1, head_dim});
  q = q_norm.forward(q).transpose(1, 2);  // [B, H, T, d]
  k = k_norm.forward(k).transpose(1, 2);  // [B, K, T, d]
  v = v.transpose(1, 2);
  const RopeTables& rope = window > 0 ? ctx.rope_local : ctx.rope_global;
  q = rope_apply(q, rope);
  k = rope_apply(k, rope);

  at::Tensor keys = k, values = v, k_idx = ctx.q_idx, k_valid = ctx.valid, k_group = ctx.group;
  if (cache) {
    StepKV s = kv_step_keys(*cache, k, v, ctx.q_idx, ctx.valid);
    keys = s.k;
    values = s.v;
    k_idx = s.idx;
    k_valid = s.valid;
    if (ctx.group.defined() && s.idx.size(1) > T) {
      k_group = at::cat({at::full({B, s.idx.size(1) - T}, -1, ctx.group.options()), ctx.group}, 1);
    }
    kv_store(*cache, k, v, ctx.q_idx, ctx.valid, ctx.start);
  }
  at::Tensor allowed = attention_allowed(ctx.q_idx, k_idx, k_valid, ctx.group, k_group, window);
  at::Tensor out = attention(q, keys, values, allowed, scale, ctx.attn_impl);  // [B, H, T, d]
  out = out.transpose(1, 2).reshape({B, T, -1});
  return o_proj->forward(out);
}

at::Tensor Gemma3Mlp::forward(const at::Tensor& x) const {
  at::Tensor g = gate_proj->forward(x);
  g = tanh_gelu ? at::gelu(g, "tanh") : at::gelu(g);
  return down_proj->forward(g * up_proj->forward(x));
}

at::Tensor Gemma3DecoderLayer::forward(const at::Tensor& h_in, const DecoderContext& ctx, LayerKV* cache) const {
  at::Tensor a = self_attn.forward(input_layernorm.forward(h_in), ctx, cache);
  at::Tensor h = h_in + post_attention_layernorm.forward(a);
  at::Tensor m = mlp.forward(pre_feedforward_layernorm.forward(h));
  return h + post_feedforward_layernorm.forward(m);
}

void Gemma3DecoderLayer::collect_params(ParamList& out) {
  input_layernorm.collect_params(out);
  self_attn.q_proj->collect_params(out);
  self_attn.k_proj->collect_params(out);
  self_attn.v_proj->collect_params(out);
  self_attn.o_proj->collect_params(out);
  self_attn.q_norm.collect_params(out);
  self_attn.k_norm.collect_params(out);
  post_attention_layernorm.collect_params(out);
  pre_feedforward_layernorm.collect_params(out);
  mlp.gate_proj->collect_params(out);
  mlp.up_proj->collect_params(out);
  mlp.down_proj->collect_params(out);
  post_feedforward_layernorm.collect_params(out);
}

Gemma3TextModel::Gemma3TextModel(const Gemma3TextConfig& cfg, const std::string& prefix,
                                 const LinearFactory& make_linear)
    : cfg_(cfg), prefix_(prefix) {
  const int64_t D = cfg.hidden_size, d = cfg.head_dim;
  norm = RmsNorm{param_join(prefix, "norm"), D, cfg.rms_norm_eps, true, {}};
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    auto L = std::make_unique<Gemma3DecoderLayer>();
    L->name = param_join(prefix, "layers." + std::to_string(i));
    L->sliding = cfg.layer_is_sliding[i];
    const std::string a = L->name + ".self_attn", m = L->name + ".mlp";
    const bool bias = cfg.attention_bias;
    L->self_attn.q_proj = make_linear({a + ".q_proj", D, cfg.num_attention_heads * d, bias});
    L->self_attn.k_proj = make_linear({a + ".k_proj", D, cfg.num_key_value_heads * d, bias});
    L->self_attn.v_proj = make_linear({a + ".v_proj", D, cfg.num_key_value_heads * d, bias});
    L->self_attn.o_proj = make_linear({a + ".o_proj", cfg.num_attention_heads * d, D, bias});
    L->self_attn.q_norm = RmsNorm{a + ".q_norm", d, cfg.rms_norm_eps, true, {}};
    L->self_attn.k_norm = RmsNorm{a + ".k_norm", d, cfg.rms_norm_eps, true, {}};
    L->self_attn.head_dim = d;
    L->self_attn.scale = cfg.attn_scale();
    L->self_attn.window = L->sliding ? cfg.sliding_window : 0;
    L->mlp.gate_proj = make_linear({m + ".gate_proj", D, cfg.intermediate_size, false});
    L->mlp.up_proj = make_linear({m + ".up_proj", D, cfg.intermediate_size, false});
    L->mlp.down_proj = make_linear({m + ".down_proj", cfg.intermediate_size, D, false});
    L->mlp.tanh_gelu = cfg.hidden_activation == "gelu_pytorch_tanh";
    for (auto* n : {&L->input_layernorm, &L->post_attention_layernorm, &L->pre_feedforward_layernorm,
                    &L->post_feedforward_layernorm}) {
      n->dim = D;
      n->eps = cfg.rms_norm_eps;
      n->plus_one = true;
    }
    L->input_layernorm.name = L->name + ".input_layernorm";
    L->post_attention_layernorm.name = L->name + ".post_attention_layernorm";
    L->pre_feedforward_layernorm.name = L->name + ".pre_feedforward_layernorm";
    L->post_feedforward_layernorm.name = L->name + ".post_feedforward_layernorm";
    layers_.push_back(std::move(L));
  }
}

at::Tensor Gemma3TextModel::embed_scale(const at::TensorOptions& options) const {
  // The scale is rounded to the weight dtype before multiplying (bf16: sqrt(2560) -> 50.5).
  return at::scalar_tensor(std::sqrt(double(cfg_.hidden_size)), options.dtype(at::kDouble))
      .to(options.dtype().toScalarType());
}

at::Tensor Gemma3TextModel::embed(const at::Tensor& input_ids) const {
  OT_CHECK(embed_tokens.defined(), "embeddings not loaded");
  return at::embedding(embed_tokens, input_ids) * embed_scale(embed_tokens.options());
}

DecoderContext Gemma3TextModel::make_context(const at::Tensor& rope_pos, const at::Tensor& valid,
                                             const at::Tensor& group, int64_t start,
                                             AttentionImpl impl, at::ScalarType dt) const {
  return decoder_context_make(cfg_.rope_global, cfg_.rope_local, cfg_.head_dim, rope_pos, valid, group, start,
                              impl, dt);
}

at::Tensor Gemma3TextModel::forward(const at::Tensor& embeds, const DecoderContext& ctx, KVCache* cache,
                                    std::vector<at::Tensor>* layer_outputs) const {
  at::Tensor h = embeds;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i]->forward(h, ctx, cache ? &cache->layer(i) : nullptr);
    if (layer_outputs) layer_outputs->push_back(h);
  }
  if (cache) cache->advance(embeds.size(1));
  return norm.forward(h);
}

at::Tensor Gemma3TextModel::logits(const at::Tensor& hidden) const {
  at::Tensor out = at::matmul(hidden, embed_tokens.t());
  if (cfg_.final_logit_softcapping) {
    const double c = *cfg_.final_logit_softcapping;
    out = at::tanh(out / c) * c;
  }
  return out;
}

void Gemma3TextModel::collect_params(ParamList& out) {
  out.push_back({param_join(prefix_, "embed_tokens.weight"), &embed_tokens,
                 {cfg_.vocab_size, cfg_.hidden_size}});
  for (auto& L : layers_) L->collect_params(out);
  norm.collect_params(out);
}

std::vector<int64_t> Gemma3TextModel::cache_windows() const {
  std::vector<int64_t> w;
  for (const auto& L : layers_) w.push_back(L->self_attn.window);
  return w;
}

}  // namespace omnitune
