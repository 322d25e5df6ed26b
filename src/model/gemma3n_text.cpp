// Gemma 3n decoder math, following gemma-spec D.3-D.5 step by step. Scalar constants are rounded
// the way HF rounds them (fp32 buffers cast to the activation dtype) so bf16 runs agree too.
#include "model/gemma3n_text.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {
namespace {

// A float32 constant cast to `dtype`, as HF's registered buffers are.
at::Tensor constant(double v, at::ScalarType dtype, const at::Device& device) {
  return at::scalar_tensor(v, at::TensorOptions().dtype(at::kFloat).device(device)).to(dtype);
}

RmsNorm gain_norm(const std::string& name, int64_t dim, double eps) {
  return RmsNorm{name, dim, eps, /*plus_one=*/false, {}};
}

}  // namespace

// ---- AltUp -------------------------------------------------------------------------------------

at::Tensor Gemma3nAltUp::modalities(const at::Tensor& x) const {
  at::Tensor routed = at::matmul(router_norm.forward(x) * router_input_scale, modality_router.t());
  return at::tanh(routed.to(compute_dtype_of(x.scalar_type()))).to(x.scalar_type());
}

at::Tensor Gemma3nAltUp::predict(const at::Tensor& streams) const {
  const int64_t n = num_inputs;
  at::Tensor m = modalities(streams[active]);  // [B, T, n]
  // coefs[b, t, q, p] = C[p, q], C = prediction_coefs(m) viewed [n, n] (row p, column q)
  at::Tensor coefs = at::matmul(m, prediction_coefs.clamp(-coef_clip, coef_clip).t());
  coefs = coefs.reshape({m.size(0), m.size(1), n, n}).permute({0, 1, 3, 2});
  at::Tensor pred = at::matmul(streams.permute({1, 2, 3, 0}), coefs).permute({3, 0, 1, 2});
  return (pred + streams).contiguous();
}

at::Tensor Gemma3nAltUp::correct(const at::Tensor& predictions, const at::Tensor& activated) const {
  at::Tensor m = modalities(activated);
  at::Tensor innovation = activated - predictions[active];  // [B, T, D]
  at::Tensor coefs = at::matmul(m, correction_coefs.clamp(-coef_clip, coef_clip).t()) + 1.0;  // [B, T, n]
  coefs = coefs.permute({2, 0, 1}).unsqueeze(-1);                                           // [n, B, T, 1]
  return (innovation.unsqueeze(0) * coefs + predictions).contiguous();
}

void Gemma3nAltUp::collect_params(ParamList& out) {
  const int64_t n = num_inputs, D = router_norm.dim;
  out.push_back({name + ".correct_output_scale", &correct_output_scale, {D}});
  out.push_back({name + ".correction_coefs.weight", &correction_coefs, {n, n}});
  out.push_back({name + ".prediction_coefs.weight", &prediction_coefs, {n * n, n}});
  out.push_back({name + ".modality_router.weight", &modality_router, {n, D}});
  router_norm.collect_params(out);
}

// ---- attention ---------------------------------------------------------------------------------

at::Tensor Gemma3nAttention::forward(const at::Tensor& x, const DecoderContext& ctx, LayerKV* cache,
                                     std::vector<SharedKV>& shared, int64_t layer) const {
  const int64_t B = x.size(0), T = x.size(1);
  const RopeTables& rope = window > 0 ? ctx.rope_local : ctx.rope_global;
  at::Tensor q = rope_apply(q_norm.forward(q_proj->forward(x).view({B, T, -1, head_dim})).transpose(1, 2), rope);

  SharedKV kv;
  if (kv_source >= 0) {
    kv = shared.at(size_t(kv_source));
    OT_CHECK(kv.k.defined(), "KV-shared layer ", layer, " runs before its source layer ", kv_source);
  } else {
    at::Tensor k = k_norm.forward(k_proj->forward(x).view({B, T, -1, head_dim})).transpose(1, 2);
    k = rope_apply(k, rope);
    at::Tensor v = v_norm.forward(v_proj->forward(x).view({B, T, -1, head_dim})).transpose(1, 2);
    kv = {k, v, ctx.q_idx, ctx.valid};
    if (cache) {
      StepKV s = kv_step_keys(*cache, k, v, ctx.q_idx, ctx.valid);
      kv = {s.k, s.v, s.idx, s.valid};
      kv_store(*cache, k, v, ctx.q_idx, ctx.valid, ctx.start);
    }
    if (keeps_kv) shared.at(size_t(layer)) = kv;
  }
  at::Tensor allowed = attention_allowed(ctx.q_idx, kv.idx, kv.valid, at::Tensor(), at::Tensor(), window);
  at::Tensor out = attention(q, kv.k, kv.v, allowed, /*scale=*/1.0, ctx.attn_impl);  // [B, H, T, d]
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, -1}));
}

// ---- MLP ---------------------------------------------------------------------------------------

at::Tensor Gemma3nMlp::forward(const at::Tensor& x) const {
  at::Tensor gate = gate_proj->forward(x);
  if (sparsity > 0) {
    // Keep the activations above mean + z * std of each row, shifted down by that cutoff; z is the
    // standard normal quantile of the target sparsity, computed in fp32 then cast (HF, spec D.5).
    at::Tensor p = at::scalar_tensor(sparsity, gate.options().dtype(at::kFloat));
    at::Tensor z = (at::erfinv(p * 2 - 1) * std::sqrt(2.0)).to(gate.scalar_type());
    at::Tensor mean, stddev;
    if (feature_sum) {
      mean = feature_sum(gate.sum(-1, /*keepdim=*/true)) / double(width);
      stddev = at::sqrt(feature_sum((gate - mean).pow(2).sum(-1, /*keepdim=*/true)) / double(width));
    } else {
      mean = gate.mean(-1, /*keepdim=*/true);
      stddev = gate.std(-1, /*unbiased=*/false, /*keepdim=*/true);
    }
    gate = at::relu(gate - (mean + stddev * z));
  }
  return down_proj->forward(at::gelu(gate, "tanh") * up_proj->forward(x));
}

// ---- decoder layer -----------------------------------------------------------------------------

at::Tensor Gemma3nDecoderLayer::forward(const at::Tensor& streams, const at::Tensor& per_layer_input,
                                        const DecoderContext& ctx, LayerKV* cache,
                                        std::vector<SharedKV>& shared) const {
  at::Tensor pred = altup.predict(streams);
  at::Tensor active = pred[altup.active];
  at::Tensor x = input_layernorm.forward(active);
  at::Tensor laurel = x + post_laurel_norm.forward(laurel_right->forward(laurel_left->forward(x)));
  at::Tensor attn = post_attention_layernorm.forward(self_attn.forward(x, ctx, cache, shared, index));
  at::Tensor h = (active + attn + laurel) / std::sqrt(2.0);
  h = h + post_feedforward_layernorm.forward(mlp.forward(pre_feedforward_layernorm.forward(h)));
  at::Tensor corrected = altup.correct(pred, h);

  // Per-layer input: gate the corrected active stream by this layer's PLE slice, project back to D
  // and add it to every stream but the first.
  at::Tensor first = corrected[altup.active];
  if (altup.correct_output_scale.defined())
    first = (first.to(altup.correct_output_scale.scalar_type()) * altup.correct_output_scale).to(first.scalar_type());
  first = at::gelu(per_layer_input_gate->forward(first), "tanh") * per_layer_input;
  first = post_per_layer_input_norm.forward(per_layer_projection->forward(first));
  const int64_t n = corrected.size(0);
  return at::cat({corrected.narrow(0, 0, 1), corrected.narrow(0, 1, n - 1) + first.unsqueeze(0)}, 0);
}

void Gemma3nDecoderLayer::collect_params(ParamList& out) {
  altup.collect_params(out);
  input_layernorm.collect_params(out);
  laurel_left->collect_params(out);
  laurel_right->collect_params(out);
  post_laurel_norm.collect_params(out);
  self_attn.q_proj->collect_params(out);
  if (self_attn.k_proj) self_attn.k_proj->collect_params(out);
  if (self_attn.v_proj) self_attn.v_proj->collect_params(out);
  self_attn.o_proj->collect_params(out);
  self_attn.q_norm.collect_params(out);
  if (self_attn.kv_source < 0) self_attn.k_norm.collect_params(out);
  post_attention_layernorm.collect_params(out);
  pre_feedforward_layernorm.collect_params(out);
  mlp.gate_proj->collect_params(out);
  mlp.up_proj->collect_params(out);
  mlp.down_proj->collect_params(out);
  post_feedforward_layernorm.collect_params(out);
  per_layer_input_gate->collect_params(out);
  per_layer_projection->collect_params(out);
  post_per_layer_input_norm.collect_params(out);
}

// ---- model -------------------------------------------------------------------------------------

Gemma3nTextModel::Gemma3nTextModel(const Gemma3nTextConfig& cfg, const std::string& prefix,
                                   const LinearFactory& make_linear)
    : cfg_(cfg), prefix_(prefix) {
  const int64_t D = cfg.hidden_size, d = cfg.head_dim, L = cfg.num_hidden_layers, P = cfg.hidden_size_per_layer_input;
  const int64_t n = cfg.altup_num_inputs;
  const double eps = cfg.rms_norm_eps;
  OT_REQUIRE(n >= 2 && cfg.altup_active_idx >= 0 && cfg.altup_active_idx < n, "Gemma 3n: altup_active_idx ",
             cfg.altup_active_idx, " outside 0..", n - 1);
  per_layer_model_projection = make_linear({param_join(prefix, "per_layer_model_projection"), D, L * P, false});
  per_layer_projection_norm = gain_norm(param_join(prefix, "per_layer_projection_norm"), P, eps);
  for (int64_t k = 1; k < n; ++k) {
    altup_projections.push_back(make_linear({param_join(prefix, "altup_projections." + std::to_string(k - 1)), D, D, false}));
    altup_unembed_projections.push_back(
        make_linear({param_join(prefix, "altup_unembed_projections." + std::to_string(k - 1)), D, D, false}));
  }
  norm = gain_norm(param_join(prefix, "norm"), D, eps);

  // KV sharing: each shared layer reads the last non-shared layer of its own type.
  const int64_t first_shared = cfg.first_kv_shared_layer();
  auto last_of_type = [&](bool sliding) {
    for (int64_t j = first_shared - 1; j >= 0; --j)
      if (cfg.layer_is_sliding[size_t(j)] == sliding) return j;
    return int64_t(-1);
  };
  for (int64_t i = 0; i < L; ++i) {
    auto Ly = std::make_unique<Gemma3nDecoderLayer>();
    Ly->name = param_join(prefix, "layers." + std::to_string(i));
    Ly->index = i;
    Ly->sliding = cfg.layer_is_sliding[size_t(i)];
    const std::string a = Ly->name + ".self_attn", m = Ly->name + ".mlp";
    Gemma3nAttention& att = Ly->self_attn;
    att.q_proj = make_linear({a + ".q_proj", D, cfg.num_attention_heads * d, false});
    att.o_proj = make_linear({a + ".o_proj", cfg.num_attention_heads * d, D, false});
    att.q_norm = gain_norm(a + ".q_norm", d, eps);
    att.k_norm = gain_norm(a + ".k_norm", d, eps);
    att.v_norm = gain_norm(a + ".v_norm", d, eps);  // no weight: gain 1
    att.head_dim = d;
    att.window = Ly->sliding ? cfg.sliding_window : 0;
    if (first_shared > 0 && i >= first_shared) {
      att.kv_source = last_of_type(Ly->sliding);
      OT_REQUIRE(att.kv_source >= 0, "Gemma 3n: KV-shared layer ", i, " has no earlier layer of its type");
    } else {
      att.k_proj = make_linear({a + ".k_proj", D, cfg.num_key_value_heads * d, false});
      att.v_proj = make_linear({a + ".v_proj", D, cfg.num_key_value_heads * d, false});
      att.keeps_kv = i == last_of_type(Ly->sliding);
    }
    const int64_t I = cfg.intermediate_size.at(size_t(i));
    Ly->mlp.gate_proj = make_linear({m + ".gate_proj", D, I, false});
    Ly->mlp.up_proj = make_linear({m + ".up_proj", D, I, false});
    Ly->mlp.down_proj = make_linear({m + ".down_proj", I, D, false});
    Ly->mlp.sparsity = cfg.activation_sparsity.at(size_t(i));
    Ly->mlp.width = I;

    Gemma3nAltUp& au = Ly->altup;
    au.name = Ly->name + ".altup";
    au.num_inputs = n;
    au.active = cfg.altup_active_idx;
    au.coef_clip = cfg.altup_coef_clip;
    au.router_input_scale = 1.0 / double(D);
    au.router_norm = gain_norm(au.name + ".router_norm", D, eps);
    Ly->laurel_left = make_linear({Ly->name + ".laurel.linear_left", D, cfg.laurel_rank, false});
    Ly->laurel_right = make_linear({Ly->name + ".laurel.linear_right", cfg.laurel_rank, D, false});
    Ly->post_laurel_norm = gain_norm(Ly->name + ".laurel.post_laurel_norm", D, eps);
    Ly->per_layer_input_gate = make_linear({Ly->name + ".per_layer_input_gate", D, P, false});
    Ly->per_layer_projection = make_linear({Ly->name + ".per_layer_projection", P, D, false});
    Ly->input_layernorm = gain_norm(Ly->name + ".input_layernorm", D, eps);
    Ly->post_attention_layernorm = gain_norm(Ly->name + ".post_attention_layernorm", D, eps);
    Ly->pre_feedforward_layernorm = gain_norm(Ly->name + ".pre_feedforward_layernorm", D, eps);
    Ly->post_feedforward_layernorm = gain_norm(Ly->name + ".post_feedforward_layernorm", D, eps);
    Ly->post_per_layer_input_norm = gain_norm(Ly->name + ".post_per_layer_input_norm", D, eps);
    layers_.push_back(std::move(Ly));
  }
}

at::Tensor Gemma3nTextModel::embed(const at::Tensor& input_ids) const {
  OT_CHECK(embed_tokens.defined(), "embeddings not loaded");
  return at::embedding(embed_tokens, input_ids) *
         constant(std::sqrt(double(cfg_.hidden_size)), embed_tokens.scalar_type(), embed_tokens.device());
}

at::Tensor Gemma3nTextModel::per_layer_tokens(const at::Tensor& input_ids) const {
  const at::Tensor in_table = input_ids.ge(0).logical_and(input_ids.lt(cfg_.vocab_size_per_layer_input));
  const at::Tensor ids = at::where(in_table, input_ids, at::zeros_like(input_ids));
  at::Tensor e = at::embedding(embed_tokens_per_layer, ids) *
                 constant(std::sqrt(double(cfg_.hidden_size_per_layer_input)), embed_tokens_per_layer.scalar_type(),
                          embed_tokens_per_layer.device());
  return e.reshape({input_ids.size(0), input_ids.size(1), cfg_.num_hidden_layers, cfg_.hidden_size_per_layer_input});
}

at::Tensor Gemma3nTextModel::per_layer_inputs(const at::Tensor& embeds, const at::Tensor& tokens) const {
  const auto dt = embeds.scalar_type();
  at::Tensor proj = per_layer_model_projection->forward(embeds) *
                    constant(std::pow(double(cfg_.hidden_size), -0.5), dt, embeds.device());
  proj = proj.reshape({embeds.size(0), embeds.size(1), cfg_.num_hidden_layers, cfg_.hidden_size_per_layer_input});
  proj = per_layer_projection_norm.forward(proj);
  if (!tokens.defined()) return proj;
  return (proj + tokens) * constant(1.0 / std::sqrt(2.0), dt, embeds.device());
}

DecoderContext Gemma3nTextModel::make_context(const at::Tensor& rope_pos, const at::Tensor& valid, int64_t start,
                                              AttentionImpl impl, at::ScalarType dtype) const {
  return decoder_context_make(cfg_.rope_global, cfg_.rope_local, cfg_.head_dim, rope_pos, valid, at::Tensor(), start,
                              impl, dtype);
}

at::Tensor Gemma3nTextModel::match_magnitude(const at::Tensor& x, const at::Tensor& target_rms) const {
  at::Tensor mag = at::sqrt(at::clamp_min(x.pow(2).mean(-1, /*keepdim=*/true), 1e-5));
  return x * target_rms / mag;
}

at::Tensor Gemma3nTextModel::streams_in(const at::Tensor& embeds) const {
  // AltUp streams: the embeddings, and n-1 projections of them at the embeddings' RMS.
  at::Tensor target = at::sqrt(embeds.pow(2).mean(-1, /*keepdim=*/true));
  std::vector<at::Tensor> s{embeds};
  for (const auto& p : altup_projections) s.push_back(match_magnitude(p->forward(embeds), target));
  return at::stack(s, 0);
}

at::Tensor Gemma3nTextModel::streams_out(const at::Tensor& streams) const {
  // Back to one stream: streams 1.. unprojected to stream 0's RMS, then the mean of all.
  at::Tensor target = at::sqrt(streams[0].pow(2).mean(-1, /*keepdim=*/true));
  std::vector<at::Tensor> u{streams[0]};
  for (size_t k = 0; k < altup_unembed_projections.size(); ++k)
    u.push_back(match_magnitude(altup_unembed_projections[k]->forward(streams[int64_t(k) + 1]), target));
  return norm.forward(at::stack(u, 0).mean(0));
}

at::Tensor Gemma3nTextModel::forward(const at::Tensor& embeds, const at::Tensor& per_layer_inputs,
                                     const DecoderContext& ctx, KVCache* cache,
                                     std::vector<at::Tensor>* stream_outputs) const {
  at::Tensor streams = streams_in(embeds);
  if (stream_outputs) stream_outputs->push_back(streams);
  const int64_t first_shared = cfg_.first_kv_shared_layer();
  std::vector<SharedKV> shared(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerKV* lc = cache && int64_t(i) < first_shared ? &cache->layer(i) : nullptr;
    streams = layers_[i]->forward(streams, per_layer_inputs.select(2, int64_t(i)), ctx, lc, shared);
    if (stream_outputs) stream_outputs->push_back(streams);
  }
  if (cache) cache->advance(embeds.size(1));
  return streams_out(streams);
}

at::Tensor Gemma3nTextModel::logits(const at::Tensor& hidden) const {
  at::Tensor out = at::matmul(hidden, embed_tokens.t());
  if (cfg_.final_logit_softcapping > 0) {
    const double c = cfg_.final_logit_softcapping;
    out = at::tanh(out / c) * c;
  }
  return out;
}

void Gemma3nTextModel::collect_params(ParamList& out) {
  const int64_t D = cfg_.hidden_size;
  out.push_back({param_join(prefix_, "embed_tokens.weight"), &embed_tokens, {cfg_.vocab_size, D}});
  out.push_back({param_join(prefix_, "embed_tokens_per_layer.weight"), &embed_tokens_per_layer,
                 {cfg_.vocab_size_per_layer_input, cfg_.num_hidden_layers * cfg_.hidden_size_per_layer_input}});
  per_layer_model_projection->collect_params(out);
  per_layer_projection_norm.collect_params(out);
  for (auto& p : altup_projections) p->collect_params(out);
  for (auto& p : altup_unembed_projections) p->collect_params(out);
  for (auto& Ly : layers_) Ly->collect_params(out);
  norm.collect_params(out);
}

bool Gemma3nTextModel::unused_checkpoint_tensor(const std::string& name) const {
  for (const auto& Ly : layers_) {
    if (Ly->self_attn.kv_source < 0) continue;
    const std::string a = Ly->name + ".self_attn.";
    for (const char* t : {"k_proj.weight", "v_proj.weight", "k_norm.weight"})
      if (name == a + t) return true;
  }
  return false;
}

std::vector<int64_t> Gemma3nTextModel::cache_windows() const {
  std::vector<int64_t> w;
  for (const auto& Ly : layers_)
    if (Ly->self_attn.kv_source < 0) w.push_back(Ly->self_attn.window);
  return w;
}

}  // namespace omnitune
