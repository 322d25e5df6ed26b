// The model-independent half of the training engines (see sharded_engine.h).
#include "parallel/sharded_engine.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <map>
#include <mutex>

#include "core/error.h"
#include "model/hf_loader.h"
#include "nn/lora.h"
#include "parallel/tp_ops.h"
#include "parallel/vocab_parallel.h"

namespace omnitune {

at::Tensor engine_rng_state() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void engine_set_rng_state(const at::Tensor& state) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

std::vector<at::Tensor> engine_grads(const std::vector<at::Tensor>& outs, const std::vector<at::Tensor>& grad_outs,
                                     const std::vector<at::Tensor>& inputs) {
  if (inputs.empty()) return {};
  // Outputs without a gradient (nothing downstream used them) are left out.
  std::vector<at::Tensor> o, g;
  for (size_t i = 0; i < outs.size(); ++i)
    if (grad_outs[i].defined() && outs[i].defined() && outs[i].requires_grad()) {
      o.push_back(outs[i]);
      g.push_back(grad_outs[i]);
    }
  if (o.empty()) return std::vector<at::Tensor>(inputs.size());
  return torch::autograd::grad(o, inputs, g, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
}

ShardedEngine::ShardedEngine(TpDims dims, ShardComms comms, TpGroup tp, const ShardingOptions& opt)
    : dims_(std::move(dims)), comms_(comms), tp_(tp), opt_(opt) {
  tp_validate(dims_, tp_.size);
  comms_.tp = tp_.comm;
  stream_ = std::make_unique<CommStream>(opt_.prefetch);
  vocab_start_ = tp_.rank * (dims_.vocab / tp_.size);
}

ShardedEngine::~ShardedEngine() {
  // Outstanding collectives reference the units: let them finish before anything is freed.
  try {
    if (stream_) stream_->synchronize();
  } catch (...) {
  }
}

FsdpUnit* ShardedEngine::add_unit(const std::string& name, const ParamList& params, const TrainableRule& rule) {
  auto flat = [&](bool want_trainable) {
    std::vector<FlatParam> out;
    for (const auto& p : params) {
      if (rule.trainable(p.name) != want_trainable) continue;
      const TpParamPlan plan = tp_param_plan(dims_, p.name, tp_.size);
      FlatParam f;
      f.name = p.name;
      f.tensor = p.tensor;
      f.shape = tp_local_shape(plan, p.shape, tp_.rank, tp_.size);
      f.decay = rule.decay(p.name, p.shape.size());
      f.tp_sharded = plan.split != TpSplit::Replicated;
      f.partial_grad = plan.partial_grad;
      out.push_back(std::move(f));
    }
    return out;
  };
  units_.push_back(std::make_unique<FsdpUnit>(name, flat(true), flat(false), comms_, opt_.compute_dtype, &gather_acct_));
  return units_.back().get();
}

void ShardedEngine::Schedule::use(FsdpUnit* u) {
  OT_CHECK(cursor_ < order_.size() && order_[cursor_] == u, "unit schedule out of order at ", u->name());
  u->materialize(*e_.stream_);
  if (e_.opt_.prefetch && cursor_ + 1 < order_.size()) order_[cursor_ + 1]->prefetch(*e_.stream_);
  ++cursor_;
}

ShardedEngine::Counters ShardedEngine::take_counters() {
  Counters c = counters_;
  c.gathers = gather_acct_.gathers.exchange(0);
  counters_ = Counters{};
  return c;
}

int64_t ShardedEngine::persistent_bytes() const {
  int64_t b = 0;
  for (const auto& u : units_) b += u->persistent_bytes();
  return b;
}

int64_t ShardedEngine::trainable_numel() const {
  int64_t n = 0;
  for (const auto& u : units_) n += u->trainable() ? u->trainable()->numel() : 0;
  return n;
}

int64_t ShardedEngine::frozen_numel() const {
  int64_t n = 0;
  for (const auto& u : units_) n += u->frozen() ? u->frozen()->numel() : 0;
  return n;
}

void ShardedEngine::synchronize() { stream_->synchronize(); }

at::Device ShardedEngine::device() const {
  for (const auto& u : units_)
    for (const FlatGroup* g : {u->trainable(), u->frozen()})
      if (g) return g->shard.device();
  return at::Device(at::kCPU);
}

ShardedEngine::LossSum ShardedEngine::forward_backward(const MicroBatch& mb, double loss_denominator) {
  OT_REQUIRE(loss_denominator > 0, "the loss denominator (loss tokens in the global batch) must be positive");
  if (!mb.dropout_keys.defined()) return run(mb, loss_denominator, true);
  LoraDropoutScope dropout(mb.dropout_keys);
  return run(mb, loss_denominator, true);
}

ShardedEngine::LossSum ShardedEngine::forward_loss(const MicroBatch& mb) { return run(mb, 1.0, false); }

void ShardedEngine::for_each_full_param(bool trainable_only,
                                        const std::function<void(const std::string&, const at::Tensor&)>& fn) {
  at::NoGradGuard no_grad;
  synchronize();
  for (auto& u : units_) {
    for (FlatGroup* g : {u->trainable(), trainable_only ? nullptr : u->frozen()}) {
      if (!g) continue;
      const at::Tensor flat = g->gather_fp32();  // once per group, not per parameter
      for (size_t i = 0; i < g->params().size(); ++i) {
        const FlatParam& p = g->params()[i];
        at::Tensor local = flat.narrow(0, p.offset, p.numel).view(p.shape).clone();
        const TpParamPlan plan = tp_param_plan(dims_, p.name, tp_.size);
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

ShardedEngine::HeadResult ShardedEngine::lm_head_loss(const at::Tensor& hn, const at::Tensor& targets,
                                                      const at::Tensor& table, double softcap, double denom,
                                                      bool backward, bool want_table_grad) {
  HeadResult r;
  const int64_t D = hn.size(-1);
  const at::Device dev = hn.device();
  at::Tensor hn_flat = hn.detach().reshape({-1, D});
  at::Tensor tgt = targets.reshape({-1});
  at::Tensor rows_all = (tgt != -100).nonzero().reshape({-1});
  r.loss.tokens = rows_all.numel();
  at::Tensor grad_hn = backward ? at::zeros_like(hn_flat) : at::Tensor();
  want_table_grad = want_table_grad && backward;
  if (want_table_grad) r.table_grad = at::zeros(table.sizes(), table.options().dtype(at::kFloat));
  const at::Tensor grad_scale = at::scalar_tensor(1.0 / denom, at::TensorOptions().dtype(at::kFloat).device(dev));
  const int64_t chunk = std::max<int64_t>(1, opt_.loss_chunk_tokens);
  for (int64_t s = 0; s < r.loss.tokens; s += chunk) {
    ++counters_.loss_chunks;
    at::Tensor rows = rows_all.narrow(0, s, std::min(chunk, r.loss.tokens - s));
    at::Tensor hc = hn_flat.index_select(0, rows).requires_grad_(backward);
    at::Tensor lsum;
    {
      at::AutoGradMode grad(backward);
      at::Tensor logits = at::matmul(tp_copy(hc, tp_.comm), table.t());
      if (softcap > 0) logits = at::tanh(logits / softcap) * softcap;
      lsum = vocab_parallel_cross_entropy(logits, tgt.index_select(0, rows), vocab_start_, tp_.comm).sum();
    }
    r.loss.loss_sum += lsum.item<double>();
    if (!backward) continue;
    std::vector<at::Tensor> inputs{hc};
    if (want_table_grad) inputs.push_back(table);
    auto g = engine_grads({lsum}, {grad_scale}, inputs);
    grad_hn.index_add_(0, rows, g[0].to(grad_hn.scalar_type()));
    if (want_table_grad && g[1].defined()) r.table_grad.add_(g[1]);
  }
  if (backward) r.grad_hidden = grad_hn.view_as(hn);
  return r;
}

ShardedEngine::LossSum ShardedEngine::run_head(FsdpUnit* head, FsdpUnit* embed, const at::Tensor& h,
                                               const std::function<at::Tensor(const at::Tensor&)>& final_hidden,
                                               const at::Tensor& targets, const at::Tensor& table, double softcap,
                                               double denom, bool backward, at::Tensor& grad_h) {
  const bool embed_train = embed->has_trainable() && backward;
  at::Tensor x = h.detach().requires_grad_(backward);
  at::Tensor hn;
  {
    at::AutoGradMode grad(backward);
    hn = final_hidden(x);
  }
  HeadResult r = lm_head_loss(hn, targets, table, softcap, denom, backward, embed_train);
  if (backward) {
    std::vector<at::Tensor> inputs{x};
    for (auto& t : head->trainable_leaves()) inputs.push_back(t);
    auto g = engine_grads({hn}, {r.grad_hidden}, inputs);
    grad_h = g[0];
    head->reduce_grads(*stream_, std::vector<at::Tensor>(g.begin() + 1, g.end()));
    if (embed_train) embed->reduce_grads(*stream_, {r.table_grad});
  }
  head->release();
  embed->release();
  return r.loss;
}

void load_tp_local(const TpDims& dims, ParamList& params, const std::function<at::Tensor(const std::string&)>& full,
                   const TpGroup& tp, at::ScalarType dtype) {
  at::NoGradGuard no_grad;
  for (auto& p : params) {
    const TpParamPlan plan = tp_param_plan(dims, p.name, tp.size);
    at::Tensor src = full(p.name);
    OT_REQUIRE(src.defined(), "no value for parameter ", p.name);
    OT_REQUIRE(src.sizes().vec() == p.shape, "parameter ", p.name, " has shape ", src.sizes(), ", expected ",
               at::IntArrayRef(p.shape));
    *p.tensor = tp_slice(plan, src, tp.rank, tp.size).to(dtype).clone();
    p.shape = tp_local_shape(plan, p.shape, tp.rank, tp.size);
  }
}

void hf_load_tp_local(const std::string& dir, const TpDims& dims, ParamList& params, const TpGroup& tp,
                      at::ScalarType dtype, const std::function<bool(const std::string&)>& unused) {
  // Full-shape handles pointing into the mapping, then a slice copy per rank.
  std::vector<at::Tensor> mapped(params.size());
  ParamList full;
  for (size_t i = 0; i < params.size(); ++i) full.push_back({params[i].name, &mapped[i], params[i].shape});
  HfLoadOptions opt;
  opt.dtype = dtype;
  opt.keep_file_dtype = true;
  if (unused) opt.known_unused = unused;
  hf_load_checkpoint(dir, full, opt);
  std::map<std::string, at::Tensor*> by_name;
  for (auto& p : full) by_name[p.name] = p.tensor;
  load_tp_local(dims, params, [&](const std::string& n) { return *by_name.at(n); }, tp, dtype);
}

}  // namespace omnitune
