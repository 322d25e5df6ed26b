// The unit-by-unit forward/backward of ShardedGemma3. Gradients between units travel as plain
// tensors (grad_h); inside a unit, torch::autograd::grad differentiates the unit's own graph.
// Every rank of the DP group issues the same gathers and reduce-scatters in the same order
// whatever its data (e.g. the vision unit is gathered even for a text-only micro-batch), which
// is what keeps the collectives matched.
#include "parallel/sharded_gemma3.h"

#include <ATen/core/grad_mode.h>

#include "core/error.h"
#include "parallel/vocab_parallel.h"

namespace omnitune {

ShardedGemma3::ShardedGemma3(std::unique_ptr<Gemma3Model> model, ShardComms comms, TpGroup tp,
                             const ShardingOptions& opt, const TrainableRule& rule)
    : ShardedEngine(TpDims(model->config()), comms, tp, opt), model_(std::move(model)) {
  const Gemma3Config& cfg = model_->config();
  if (cfg.has_vision) {
    ParamList p;
    model_->collect_vision_params(p);
    vision_ = add_unit("vision", p, rule);
  }
  Gemma3TextModel& text = model_->text();
  embed_ = add_unit("embed", {{param_join(text.prefix(), "embed_tokens.weight"), &text.embed_tokens,
                               {cfg.text.vocab_size, cfg.text.hidden_size}}}, rule);
  for (auto& layer : text.layers()) {
    ParamList p;
    layer->collect_params(p);
    blocks_.push_back(add_unit(layer->name, p, rule));
  }
  ParamList head;
  text.norm.collect_params(head);
  head_ = add_unit("head", head, rule);
}

ShardedEngine::LossSum ShardedGemma3::run(const MicroBatch& mb, double denom, bool backward) {
  at::NoGradGuard no_grad;  // graphs are built only where a unit needs one
  const Gemma3Config& cfg = model_->config();
  Gemma3TextModel& text = model_->text();
  const bool ac = opt_.activation_checkpointing;
  const bool reshard = opt_.reshard_after_forward;
  const bool vision_train = vision_ && vision_->has_trainable() && backward;
  const bool embed_train = embed_->has_trainable() && backward;
  const at::ScalarType dt = opt_.compute_dtype;
  OT_REQUIRE(mb.inputs.input_ids.defined() && mb.inputs.input_ids.dim() == 2, "input_ids must be [batch, tokens]");
  OT_REQUIRE(mb.targets.defined() && mb.targets.sizes() == mb.inputs.input_ids.sizes(),
             "targets must have the shape of input_ids");
  OT_REQUIRE(!mb.audio_features.defined(), "the batch has audio clips but Gemma 3 has no audio tower: ",
             "preprocess the data for the model being trained");

  // The order in which units are used: prefetching walks it one ahead.
  std::vector<FsdpUnit*> order;
  if (vision_) order.push_back(vision_);
  order.push_back(embed_);
  for (auto* b : blocks_) order.push_back(b);
  order.push_back(head_);
  order.push_back(embed_);
  if (backward) {
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) order.push_back(*it);
    if (vision_train) order.push_back(vision_);
  }
  Schedule sched(*this, order);
  auto use = [&](FsdpUnit* u) { sched.use(u); };

  DecoderContext ctx = model_->make_context(mb.inputs, 0, dt);
  const at::Tensor& ids = mb.inputs.input_ids;
  at::Tensor px = mb.inputs.pixel_values.defined() ? mb.inputs.pixel_values.to(dt) : at::Tensor();

  // ---- vision tower + projector
  at::Tensor feats, feats_graph;
  if (vision_) {
    use(vision_);
    if (px.defined()) {
      if (vision_train && !ac) {
        at::AutoGradMode grad(true);
        feats_graph = model_->image_features(px);
        feats = feats_graph.detach();
      } else {
        feats = model_->image_features(px);
      }
    }
    if (!vision_train || (ac && reshard)) vision_->release();
  }

  // ---- embedding (vocab-parallel; its backward is written out below, so no graph is kept)
  use(embed_);
  const at::Device dev = ids.device();
  const at::Tensor scale = text.embed_scale(at::TensorOptions().dtype(dt).device(dev));
  const at::Tensor emb_ids = model_->embedding_ids(ids);
  at::Tensor h = vocab_parallel_embedding(text.embed_tokens, emb_ids, vocab_start_, tp_.comm) * scale;
  if (feats.defined()) h = model_->merge_image_features(h, ids, feats);
  if (reshard) embed_->release();

  // ---- decoder blocks
  const size_t L = blocks_.size();
  std::vector<at::Tensor> saved_in(L), saved_out(L), saved_rng(L);
  for (size_t i = 0; i < L; ++i) {
    use(blocks_[i]);
    const auto& layer = *text.layers()[i];
    if (backward && !ac) {
      at::Tensor x = h.detach().requires_grad_(true);
      at::AutoGradMode grad(true);
      at::Tensor y = layer.forward(x, ctx, nullptr);
      saved_in[i] = x;
      saved_out[i] = y;
      h = y.detach();
    } else {
      if (backward) {
        saved_in[i] = h;
        saved_rng[i] = engine_rng_state();
      }
      h = layer.forward(h, ctx, nullptr);
    }
    if (!backward || (ac && reshard)) blocks_[i]->release();
  }

  // ---- head: final norm, tied LM head, vocab-parallel cross-entropy over loss tokens only,
  // forward and backward chunk by chunk so only [chunk x V/tp] logits ever exist.
  use(head_);
  use(embed_);
  at::Tensor grad_h;
  const LossSum result = run_head(
      head_, embed_, h, [&](const at::Tensor& x) { return text.norm.forward(x); }, mb.targets, text.embed_tokens,
      cfg.text.final_logit_softcapping.value_or(0.0), denom, backward, grad_h);
  if (!backward) return result;

  // ---- decoder blocks, backward
  for (size_t i = L; i-- > 0;) {
    use(blocks_[i]);
    at::Tensor x, y;
    if (ac) {
      ++counters_.recomputed_blocks;
      x = saved_in[i].detach().requires_grad_(true);
      const at::Tensor resume = engine_rng_state();
      engine_set_rng_state(saved_rng[i]);
      at::AutoGradMode grad(true);
      y = text.layers()[i]->forward(x, ctx, nullptr);
      engine_set_rng_state(resume);
    } else {
      x = saved_in[i];
      y = saved_out[i];
    }
    std::vector<at::Tensor> inputs{x};
    for (auto& t : blocks_[i]->trainable_leaves()) inputs.push_back(t);
    auto g = engine_grads({y}, {grad_h}, inputs);
    grad_h = g[0];
    blocks_[i]->reduce_grads(*stream_, std::vector<at::Tensor>(g.begin() + 1, g.end()));
    blocks_[i]->release();
    saved_in[i] = saved_out[i] = saved_rng[i] = at::Tensor();
  }

  // ---- embedding backward: d table[id] += scale * grad_h at every text token this rank owns.
  at::Tensor is_image = cfg.has_vision ? (ids == cfg.image_token_id) : at::zeros_like(ids, at::kBool);
  if (embed_train) {
    const int64_t v_local = cfg.text.vocab_size / tp_.size;
    at::Tensor local = emb_ids - vocab_start_;
    at::Tensor take = ((local >= 0) & (local < v_local) & ~is_image).reshape({-1});
    at::Tensor rows = take.nonzero().reshape({-1});
    at::Tensor g = grad_h.reshape({-1, grad_h.size(-1)}).index_select(0, rows).to(at::kFloat) * scale.to(at::kFloat);
    at::Tensor table_grad = at::zeros({v_local, cfg.text.hidden_size}, at::TensorOptions().dtype(at::kFloat).device(dev));
    table_grad.index_add_(0, local.reshape({-1}).index_select(0, rows), g);
    embed_->reduce_grads(*stream_, {table_grad});
  }

  // ---- vision backward (recomputed under checkpointing); runs on every rank, images or not.
  if (vision_train) {
    use(vision_);
    std::vector<at::Tensor> leaves = vision_->trainable_leaves();
    std::vector<at::Tensor> grads(leaves.size());
    if (px.defined()) {
      at::Tensor gf = grad_h.masked_select(is_image.unsqueeze(-1)).view({px.size(0), -1, grad_h.size(-1)});
      at::Tensor f = feats_graph;
      if (ac) {
        at::AutoGradMode grad(true);
        f = model_->image_features(px);
      }
      grads = engine_grads({f}, {gf.to(f.scalar_type())}, leaves);
    }
    vision_->reduce_grads(*stream_, grads);
    vision_->release();
  }
  return result;
}

}  // namespace omnitune
