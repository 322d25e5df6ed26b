// The unit-by-unit forward/backward of ShardedGemma3. Gradients between units travel as plain
// tensors (grad_h); inside a unit, torch::autograd::grad differentiates the unit's own graph.
// Every rank of the DP group issues the same gathers and reduce-scatters in the same order
// whatever its data (e.g. the vision unit is gathered even for a text-only micro-batch), which
// is what keeps the collectives matched.
#include "parallel/sharded_gemma3.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <map>
#include <mutex>

#include "core/error.h"
#include "model/hf_loader.h"
#include "parallel/tp_ops.h"
#include "parallel/vocab_parallel.h"

namespace omnitune {
namespace {

std::vector<FlatParam> to_flat(const Gemma3Config& cfg, ParamList params, const TpGroup& tp, const TrainableRule& rule,
                               bool want_trainable) {
  std::vector<FlatParam> out;
  for (auto& p : params) {
    if (rule.trainable(p.name) != want_trainable) continue;
    const TpParamPlan plan = tp_param_plan(cfg, p.name, tp.size);
    FlatParam f;
    f.name = p.name;
    f.tensor = p.tensor;
    f.shape = tp_local_shape(plan, p.shape, tp.rank, tp.size);
    f.decay = rule.decay(p.name, p.shape.size());
    f.tp_sharded = plan.split != TpSplit::Replicated;
    f.partial_grad = plan.partial_grad;
    out.push_back(std::move(f));
  }
  return out;
}

// The default CPU generator's state: a checkpointed block recomputes its forward with the
// random numbers (LoRA dropout) of the original forward.
at::Tensor rng_state() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const at::Tensor& state) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

std::vector<at::Tensor> autograd_grads(const at::Tensor& out, const at::Tensor& grad_out,
                                       const std::vector<at::Tensor>& inputs) {
  if (inputs.empty()) return {};
  return torch::autograd::grad({out}, inputs, {grad_out}, /*retain_graph=*/false, /*create_graph=*/false,
                               /*allow_unused=*/true);
}

}  // namespace

ShardedGemma3::ShardedGemma3(std::unique_ptr<Gemma3Model> model, ShardComms comms, TpGroup tp,
                             const ShardingOptions& opt, const TrainableRule& rule)
    : model_(std::move(model)), comms_(comms), tp_(tp), opt_(opt) {
  const Gemma3Config& cfg = model_->config();
  tp_validate(cfg, tp_.size);
  comms_.tp = tp_.comm;
  stream_ = std::make_unique<CommStream>(opt_.prefetch);
  vocab_start_ = tp_.rank * (cfg.text.vocab_size / tp_.size);

  auto add_unit = [&](const std::string& name, const ParamList& params) {
    units_.push_back(std::make_unique<FsdpUnit>(name, to_flat(cfg, params, tp_, rule, true),
                                                to_flat(cfg, params, tp_, rule, false), comms_, opt_.compute_dtype,
                                                &gather_acct_));
    return units_.back().get();
  };
  if (cfg.has_vision) {
    ParamList p;
    model_->collect_vision_params(p);
    vision_ = add_unit("vision", p);
  }
  Gemma3TextModel& text = model_->text();
  embed_ = add_unit("embed", {{param_join(text.prefix(), "embed_tokens.weight"), &text.embed_tokens,
                               {cfg.text.vocab_size, cfg.text.hidden_size}}});
  for (auto& layer : text.layers()) {
    ParamList p;
    layer->collect_params(p);
    blocks_.push_back(add_unit(layer->name, p));
  }
  ParamList head;
  text.norm.collect_params(head);
  head_ = add_unit("head", head);
}

ShardedGemma3::~ShardedGemma3() {
  // Outstanding collectives reference the units: let them finish before anything is freed.
  try {
    if (stream_) stream_->synchronize();
  } catch (...) {
  }
}

int64_t ShardedGemma3::persistent_bytes() const {
  int64_t b = 0;
  for (const auto& u : units_) b += u->persistent_bytes();
  return b;
}

int64_t ShardedGemma3::trainable_numel() const {
  int64_t n = 0;
  for (const auto& u : units_) n += u->trainable() ? u->trainable()->numel() : 0;
  return n;
}

int64_t ShardedGemma3::frozen_numel() const {
  int64_t n = 0;
  for (const auto& u : units_) n += u->frozen() ? u->frozen()->numel() : 0;
  return n;
}

void ShardedGemma3::synchronize() { stream_->synchronize(); }

at::Device ShardedGemma3::device() const {
  for (const auto& u : units_)
    for (const FlatGroup* g : {u->trainable(), u->frozen()})
      if (g) return g->shard.device();
  return at::Device(at::kCPU);
}

void ShardedGemma3::for_each_full_param(bool trainable_only,
                                        const std::function<void(const std::string&, const at::Tensor&)>& fn) {
  at::NoGradGuard no_grad;
  synchronize();
  const Gemma3Config& cfg = model_->config();
  for (auto& u : units_) {
    for (FlatGroup* g : {u->trainable(), trainable_only ? nullptr : u->frozen()}) {
      if (!g) continue;
      for (size_t i = 0; i < g->params().size(); ++i) {
        const FlatParam& p = g->params()[i];
        at::Tensor local = g->gather_param_fp32(i);
        const TpParamPlan plan = tp_param_plan(cfg, p.name, tp_.size);
        if (plan.split == TpSplit::Replicated || tp_.size == 1) {
          fn(p.name, local);
          continue;
        }
        // Slices along the split dimension, gathered over TP and stacked back in rank order.
        const int64_t dim = plan.split == TpSplit::Rows ? 0 : 1;
        at::Tensor moved = local.movedim(dim, 0).contiguous();
        at::Tensor all = at::empty({tp_.size * moved.numel()}, moved.options());
        tp_.comm->all_gather(moved, all);
        std::vector<int64_t> shape = moved.sizes().vec();
        shape[0] *= tp_.size;
        fn(p.name, all.view(shape).movedim(0, dim).contiguous());
      }
    }
  }
}

ShardedGemma3::LossSum ShardedGemma3::forward_backward(const MicroBatch& mb, double loss_denominator) {
  OT_REQUIRE(loss_denominator > 0, "the loss denominator (loss tokens in the global batch) must be positive");
  return run(mb, loss_denominator, true);
}

ShardedGemma3::LossSum ShardedGemma3::forward_loss(const MicroBatch& mb) { return run(mb, 1.0, false); }

ShardedGemma3::LossSum ShardedGemma3::run(const MicroBatch& mb, double denom, bool backward) {
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
  size_t cursor = 0;
  auto use = [&](FsdpUnit* u) {
    OT_CHECK(cursor < order.size() && order[cursor] == u, "unit schedule out of order at ", u->name());
    u->materialize(*stream_);
    if (opt_.prefetch && cursor + 1 < order.size()) order[cursor + 1]->prefetch(*stream_);
    ++cursor;
  };

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
        saved_rng[i] = rng_state();
      }
      h = layer.forward(h, ctx, nullptr);
    }
    if (!backward || (ac && reshard)) blocks_[i]->release();
  }

  // ---- head: final norm, tied LM head, vocab-parallel cross-entropy over loss tokens only,
  // forward and backward chunk by chunk so only [chunk x V/tp] logits ever exist.
  use(head_);
  use(embed_);
  LossSum result;
  at::Tensor grad_h;
  {
    at::Tensor x = h.detach().requires_grad_(backward);
    at::Tensor hn;
    {
      at::AutoGradMode grad(backward);
      hn = text.norm.forward(x);
    }
    const int64_t D = hn.size(-1);
    at::Tensor hn_flat = hn.detach().reshape({-1, D});
    at::Tensor tgt = mb.targets.reshape({-1});
    at::Tensor rows_all = (tgt != -100).nonzero().reshape({-1});
    result.tokens = rows_all.numel();
    at::Tensor grad_hn = backward ? at::zeros_like(hn_flat) : at::Tensor();
    at::Tensor table = text.embed_tokens;
    at::Tensor table_grad = embed_train ? at::zeros(table.sizes(), table.options().dtype(at::kFloat)) : at::Tensor();
    const at::Tensor grad_scale = at::scalar_tensor(1.0 / denom, at::TensorOptions().dtype(at::kFloat).device(dev));
    const int64_t chunk = std::max<int64_t>(1, opt_.loss_chunk_tokens);
    for (int64_t s = 0; s < result.tokens; s += chunk) {
      at::Tensor rows = rows_all.narrow(0, s, std::min(chunk, result.tokens - s));
      at::Tensor hc = hn_flat.index_select(0, rows).requires_grad_(backward);
      at::Tensor lsum;
      {
        at::AutoGradMode grad(backward);
        at::Tensor logits = at::matmul(tp_copy(hc, tp_.comm), table.t());
        if (cfg.text.final_logit_softcapping) {
          const double c = *cfg.text.final_logit_softcapping;
          logits = at::tanh(logits / c) * c;
        }
        lsum = vocab_parallel_cross_entropy(logits, tgt.index_select(0, rows), vocab_start_, tp_.comm).sum();
      }
      result.loss_sum += lsum.item<double>();
      if (!backward) continue;
      std::vector<at::Tensor> inputs{hc};
      if (embed_train) inputs.push_back(table);
      auto g = autograd_grads(lsum, grad_scale, inputs);
      grad_hn.index_add_(0, rows, g[0].to(grad_hn.scalar_type()));
      if (embed_train && g[1].defined()) table_grad.add_(g[1]);
    }
    if (backward) {
      std::vector<at::Tensor> inputs{x};
      for (auto& t : head_->trainable_leaves()) inputs.push_back(t);
      auto g = autograd_grads(hn, grad_hn.view_as(hn), inputs);
      grad_h = g[0];
      head_->reduce_grads(*stream_, std::vector<at::Tensor>(g.begin() + 1, g.end()));
      if (embed_train) embed_->reduce_grads(*stream_, {table_grad});
    }
  }
  head_->release();
  embed_->release();
  if (!backward) return result;

  // ---- decoder blocks, backward
  for (size_t i = L; i-- > 0;) {
    use(blocks_[i]);
    at::Tensor x, y;
    if (ac) {
      x = saved_in[i].detach().requires_grad_(true);
      const at::Tensor resume = rng_state();
      set_rng_state(saved_rng[i]);
      at::AutoGradMode grad(true);
      y = text.layers()[i]->forward(x, ctx, nullptr);
      set_rng_state(resume);
    } else {
      x = saved_in[i];
      y = saved_out[i];
    }
    std::vector<at::Tensor> inputs{x};
    for (auto& t : blocks_[i]->trainable_leaves()) inputs.push_back(t);
    auto g = autograd_grads(y, grad_h, inputs);
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
      grads = autograd_grads(f, gf.to(f.scalar_type()), leaves);
    }
    vision_->reduce_grads(*stream_, grads);
    vision_->release();
  }
  return result;
}

void load_tp_local(const Gemma3Config& cfg, ParamList& params, const std::function<at::Tensor(const std::string&)>& full,
                   const TpGroup& tp, at::ScalarType dtype) {
  at::NoGradGuard no_grad;
  for (auto& p : params) {
    const TpParamPlan plan = tp_param_plan(cfg, p.name, tp.size);
    at::Tensor src = full(p.name);
    OT_REQUIRE(src.defined(), "no value for parameter ", p.name);
    OT_REQUIRE(src.sizes().vec() == p.shape, "parameter ", p.name, " has shape ", src.sizes(), ", expected ",
               at::IntArrayRef(p.shape));
    *p.tensor = tp_slice(plan, src, tp.rank, tp.size).to(dtype).clone();
    p.shape = tp_local_shape(plan, p.shape, tp.rank, tp.size);
  }
}

void hf_load_tp_local(const std::string& dir, const Gemma3Config& cfg, ParamList& params, const TpGroup& tp,
                      at::ScalarType dtype) {
  // Full-shape handles pointing into the mapping, then a slice copy per rank.
  std::vector<at::Tensor> mapped(params.size());
  ParamList full;
  for (size_t i = 0; i < params.size(); ++i) full.push_back({params[i].name, &mapped[i], params[i].shape});
  HfLoadOptions opt;
  opt.dtype = dtype;
  opt.keep_file_dtype = true;
  hf_load_checkpoint(dir, full, opt);
  std::map<std::string, at::Tensor*> by_name;
  for (auto& p : full) by_name[p.name] = p.tensor;
  load_tp_local(cfg, params, [&](const std::string& n) { return *by_name.at(n); }, tp, dtype);
}

}  // namespace omnitune
