// The unit-by-unit forward/backward of ShardedGemma3n (see the header for the schedule). As in
// ShardedGemma3, gradients between units travel as plain tensors and every rank issues the same
// collectives in the same order whatever its data (towers are gathered for text-only batches).
#include "parallel/sharded_gemma3n.h"

#include <ATen/core/grad_mode.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "parallel/tp_ops.h"
#include "parallel/vocab_parallel.h"

namespace omnitune {

ShardedGemma3n::ShardedGemma3n(std::unique_ptr<Gemma3nModel> model, ShardComms comms, TpGroup tp,
                               const ShardingOptions& opt, const TrainableRule& rule)
    : ShardedEngine(TpDims(model->config()), comms, tp, opt), model_(std::move(model)) {
  const Gemma3nConfig& cfg = model_->config();
  Gemma3nTextModel& text = model_->text();
  const std::string lm = "model.language_model";
  const int64_t L = cfg.text.num_hidden_layers, P = cfg.text.hidden_size_per_layer_input;

  embed_ = add_unit("embed", {{lm + ".embed_tokens.weight", &text.embed_tokens,
                               {cfg.text.vocab_size, cfg.text.hidden_size}}}, rule);
  ParamList per_layer{{lm + ".embed_tokens_per_layer.weight", &text.embed_tokens_per_layer,
                       {cfg.text.vocab_size_per_layer_input, L * P}}};
  text.per_layer_model_projection->collect_params(per_layer);
  text.per_layer_projection_norm.collect_params(per_layer);
  for (auto& p : text.altup_projections) p->collect_params(per_layer);
  per_layer_ = add_unit("per_layer", per_layer, rule);
  ParamList audio;
  model_->audio().collect_params(audio);
  model_->embed_audio().collect_params(audio);
  audio_ = add_unit("audio", audio, rule);
  if (model_->vision()) {
    ParamList vision;
    model_->vision()->collect_params(vision);
    model_->embed_vision().collect_params(vision);
    vision_ = add_unit("vision", vision, rule);
  }
  front_units_ = {embed_, per_layer_, audio_};  // the embedding first: the towers read its dtype
  if (vision_) front_units_.push_back(vision_);
  for (auto& layer : text.layers()) {
    ParamList p;
    layer->collect_params(p);
    blocks_.push_back(add_unit(layer->name, p, rule));
  }
  ParamList head;
  for (auto& p : text.altup_unembed_projections) p->collect_params(head);
  text.norm.collect_params(head);
  head_ = add_unit("head", head, rule);

  // Every parameter of the model in exactly one unit.
  std::multiset<std::string> in_units, in_model;
  for (const auto& u : units_)
    for (const FlatGroup* g : {u->trainable(), u->frozen()})
      if (g)
        for (const auto& p : g->params()) in_units.insert(p.name);
  for (const auto& p : model_->params()) in_model.insert(p.name);
  OT_CHECK(in_units == in_model, "ShardedGemma3n units cover ", in_units.size(), " parameters, the model has ",
           in_model.size());

  // Sparsity statistics over the full MLP width when TP splits it.
  if (tp_.size > 1)
    for (auto& layer : text.layers()) {
      Comm* c = tp_.comm;
      layer->mlp.feature_sum = [c](const at::Tensor& x) { return tp_sum(x, c); };
    }
}

ShardedGemma3n::Front ShardedGemma3n::front(const MicroBatch& mb, at::ScalarType dt) const {
  const Gemma3nModel& m = *model_;
  const Gemma3nTextModel& text = m.text();
  const at::Tensor& ids = mb.inputs.input_ids;
  // The text embedding (vocab-parallel over TP) scaled by sqrt(D) rounded to the compute dtype (as
  // the model's own embed()), then hard multimodal ids and soft tokens merged in.
  const at::Tensor scale =
      at::scalar_tensor(std::sqrt(double(m.config().text.hidden_size)), at::TensorOptions().dtype(at::kFloat).device(ids.device()))
          .to(dt);
  at::Tensor e = m.merge_hard_tokens(vocab_parallel_embedding(text.embed_tokens, ids, vocab_start_, tp_.comm) * scale, ids);
  const at::Tensor img = mb.inputs.pixel_values.defined() ? m.image_soft_tokens(mb.inputs.pixel_values.to(dt)) : at::Tensor();
  const at::Tensor aud =
      mb.audio_features.defined() ? m.audio_soft_tokens(mb.audio_features.to(dt), mb.audio_pad) : at::Tensor();
  e = m.merge_soft_tokens(e, ids, img, aud);
  Front f;
  f.per_layer = text.per_layer_inputs(e, text.per_layer_tokens(ids));
  f.streams = text.streams_in(e);
  return f;
}

ShardedEngine::LossSum ShardedGemma3n::run(const MicroBatch& mb, double denom, bool backward) {
  at::NoGradGuard no_grad;  // graphs are built only where a unit needs one
  const Gemma3nConfig& cfg = model_->config();
  Gemma3nTextModel& text = model_->text();
  const bool ac = opt_.activation_checkpointing;
  const bool reshard = opt_.reshard_after_forward;
  const at::ScalarType dt = opt_.compute_dtype;
  const at::Tensor& ids = mb.inputs.input_ids;
  OT_REQUIRE(ids.defined() && ids.dim() == 2, "input_ids must be [batch, tokens]");
  OT_REQUIRE(mb.targets.defined() && mb.targets.sizes() == ids.sizes(), "targets must have the shape of input_ids");
  OT_REQUIRE(!mb.audio_features.defined() || mb.audio_pad.defined(), "audio_features come with audio_pad");
  bool front_train = false;
  for (FsdpUnit* u : front_units_) front_train = front_train || u->has_trainable();
  front_train = front_train && backward;

  std::vector<FsdpUnit*> order(front_units_);
  for (auto* b : blocks_) order.push_back(b);
  order.push_back(head_);
  order.push_back(embed_);
  if (backward) {
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) order.push_back(*it);
    if (front_train) order.insert(order.end(), front_units_.begin(), front_units_.end());
  }
  Schedule sched(*this, order);

  const int64_t B = ids.size(0), T = ids.size(1);
  const at::Tensor pos = mb.inputs.position_ids.defined() ? mb.inputs.position_ids
                                                          : at::arange(T, ids.options()).unsqueeze(0).expand({B, T});
  const at::Tensor valid = mb.inputs.attention_mask.defined() ? mb.inputs.attention_mask != 0 : at::Tensor();
  const DecoderContext ctx = text.make_context(pos, valid, 0, model_->attention_impl, dt);

  // ---- front: embeddings, soft tokens, per-layer inputs, initial streams (recomputed in backward)
  const at::Tensor front_rng = engine_rng_state();
  for (FsdpUnit* u : front_units_) sched.use(u);
  Front f = front(mb, dt);
  for (FsdpUnit* u : front_units_) u->release();
  at::Tensor h = f.streams;
  const at::Tensor ple = f.per_layer;

  // ---- decoder blocks. Shared K/V: kv_val for reading without a graph, kv_leaf (leaves that
  // collect the readers' gradients), kv_out (the keeper's own graph-connected K/V, no checkpointing).
  const size_t L = blocks_.size();
  std::vector<at::Tensor> saved_in(L), saved_out(L), saved_ple(L), saved_rng(L), grad_k(L), grad_v(L);
  std::vector<SharedKV> kv_val(L), kv_leaf(L), kv_out(L);
  auto shared_view = [&](bool leaves) {
    std::vector<SharedKV> s(L);
    for (size_t j = 0; j < L; ++j)
      if (kv_val[j].k.defined()) s[j] = leaves ? kv_leaf[j] : kv_val[j];
    return s;
  };
  auto keep_kv = [&](size_t i, const SharedKV& kv) {
    kv_val[i] = {kv.k.detach(), kv.v.detach(), kv.idx, kv.valid};
    if (backward) kv_leaf[i] = {kv.k.detach().requires_grad_(true), kv.v.detach().requires_grad_(true), kv.idx, kv.valid};
  };
  for (size_t i = 0; i < L; ++i) {
    sched.use(blocks_[i]);
    const Gemma3nDecoderLayer& layer = *text.layers()[i];
    const bool keeper = layer.self_attn.keeps_kv;
    if (backward && !ac) {
      std::vector<SharedKV> shared = shared_view(true);
      at::Tensor x = h.detach().requires_grad_(true);
      at::Tensor p = ple.select(2, int64_t(i)).detach().requires_grad_(true);
      at::AutoGradMode grad(true);
      at::Tensor y = layer.forward(x, p, ctx, nullptr, shared);
      saved_in[i] = x;
      saved_ple[i] = p;
      saved_out[i] = y;
      if (keeper) {
        kv_out[i] = shared[i];
        keep_kv(i, shared[i]);
      }
      h = y.detach();
    } else {
      std::vector<SharedKV> shared = shared_view(false);
      if (backward) {
        saved_in[i] = h;
        saved_rng[i] = engine_rng_state();
      }
      h = layer.forward(h, ple.select(2, int64_t(i)), ctx, nullptr, shared);
      if (keeper) keep_kv(i, shared[i]);
    }
    if (!backward || (ac && reshard)) blocks_[i]->release();
  }

  // ---- head: AltUp unembedding + final norm, then the tied vocab-parallel LM head and loss.
  sched.use(head_);
  sched.use(embed_);
  at::Tensor grad_h;
  const LossSum result = run_head(
      head_, embed_, h, [&](const at::Tensor& x) { return text.streams_out(x); }, mb.targets, text.embed_tokens,
      cfg.text.final_logit_softcapping, denom, backward, grad_h);
  if (!backward) return result;

  // ---- decoder blocks, backward (a keeper after its readers: their K/V gradients are complete)
  at::Tensor grad_ple = front_train ? at::zeros_like(ple) : at::Tensor();
  for (size_t i = L; i-- > 0;) {
    sched.use(blocks_[i]);
    const Gemma3nDecoderLayer& layer = *text.layers()[i];
    const int64_t src = layer.self_attn.kv_source;
    const bool keeper = layer.self_attn.keeps_kv;
    at::Tensor x, p, y;
    SharedKV own;
    if (ac) {
      ++counters_.recomputed_blocks;
      x = saved_in[i].detach().requires_grad_(true);
      p = ple.select(2, int64_t(i)).detach().requires_grad_(front_train);
      std::vector<SharedKV> shared = shared_view(true);
      const at::Tensor resume = engine_rng_state();
      engine_set_rng_state(saved_rng[i]);
      at::AutoGradMode grad(true);
      y = layer.forward(x, p, ctx, nullptr, shared);
      engine_set_rng_state(resume);
      if (keeper) own = shared[i];
    } else {
      x = saved_in[i];
      p = saved_ple[i];
      y = saved_out[i];
      own = kv_out[i];
    }
    std::vector<at::Tensor> outs{y}, grad_outs{grad_h};
    if (keeper) {
      outs.insert(outs.end(), {own.k, own.v});
      grad_outs.insert(grad_outs.end(), {grad_k[i], grad_v[i]});
    }
    std::vector<at::Tensor> inputs{x};
    const size_t at_p = front_train ? inputs.size() : 0;
    if (front_train) inputs.push_back(p);
    const size_t at_kv = src >= 0 ? inputs.size() : 0;
    if (src >= 0) inputs.insert(inputs.end(), {kv_leaf[size_t(src)].k, kv_leaf[size_t(src)].v});
    const size_t at_leaves = inputs.size();
    for (auto& t : blocks_[i]->trainable_leaves()) inputs.push_back(t);
    auto g = engine_grads(outs, grad_outs, inputs);
    grad_h = g[0];
    if (front_train && g[at_p].defined()) grad_ple.select(2, int64_t(i)).copy_(g[at_p]);
    if (src >= 0) {
      for (auto [acc, gi] : {std::pair<at::Tensor*, size_t>{&grad_k[size_t(src)], at_kv}, {&grad_v[size_t(src)], at_kv + 1}})
        if (g[gi].defined()) *acc = acc->defined() ? *acc + g[gi] : g[gi];
    }
    blocks_[i]->reduce_grads(*stream_, std::vector<at::Tensor>(g.begin() + long(at_leaves), g.end()));
    blocks_[i]->release();
    saved_in[i] = saved_out[i] = saved_ple[i] = saved_rng[i] = grad_k[i] = grad_v[i] = at::Tensor();
    kv_out[i] = SharedKV{};
  }

  // ---- front backward (recomputed with the forward's random numbers)
  if (front_train) {
    for (FsdpUnit* u : front_units_) sched.use(u);
    Front again;
    {
      const at::Tensor resume = engine_rng_state();
      engine_set_rng_state(front_rng);
      at::AutoGradMode grad(true);
      again = front(mb, dt);
      engine_set_rng_state(resume);
    }
    std::vector<at::Tensor> leaves;
    std::vector<size_t> counts;  // leaves per front unit, in order
    for (FsdpUnit* u : front_units_) {
      const std::vector<at::Tensor> own = u->trainable_leaves();
      leaves.insert(leaves.end(), own.begin(), own.end());
      counts.push_back(own.size());
    }
    auto g = engine_grads({again.streams, again.per_layer}, {grad_h, grad_ple}, leaves);
    size_t k = 0;
    for (size_t i = 0; i < front_units_.size(); ++i) {
      const size_t n = counts[i];
      if (n > 0) front_units_[i]->reduce_grads(*stream_, std::vector<at::Tensor>(g.begin() + long(k), g.begin() + long(k + n)));
      k += n;
      front_units_[i]->release();
    }
  }
  return result;
}

}  // namespace omnitune
