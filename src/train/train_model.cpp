#include "train/train_model.h"

#include <ATen/core/grad_mode.h>

#include <functional>

#include "core/error.h"
#include "core/log.h"
#include "model/hf_config_json.h"
#include "model/hf_loader.h"
#include "nn/lora.h"
#include "parallel/sharded_gemma3.h"
#include "parallel/sharded_gemma3n.h"
#include "parallel/tp_linear.h"
#include "train/peft.h"

namespace omnitune {
namespace {

// Full-size initial value of a new LoRA tensor, identical on every rank.
at::Tensor lora_init(const NamedParam& p, int64_t seed) {
  if (p.name.find(".lora_B.") != std::string::npos) return at::zeros(p.shape, at::kFloat);
  const uint64_t h = std::hash<std::string>{}(p.name);
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL ^ h);
  const double bound = 1.0 / std::sqrt(static_cast<double>(p.shape.at(1)));
  return at::rand(p.shape, gen, at::kFloat) * (2 * bound) - bound;
}

}  // namespace

namespace {

// Loads base weights (each rank its TP slice) and seeded adapters into `all`, moves them to the
// device and counts trainable / frozen parameters.
void load_params(const TrainSettings& t, const TpDims& dims, const TpGroup& tp, ParamList& all, const at::Device& device,
                 const std::function<bool(const std::string&)>& unused, TrainModel& out, const TrainableRule& rule) {
  ParamList base, adapters;
  for (auto& p : all) (is_lora_param(p.name) ? adapters : base).push_back(p);
  OT_REQUIRE(t.peft.method != "lora" || !adapters.empty(), "peft.method=lora but no linear layer matches ",
             "peft.include / peft.exclude: nothing would train");
  hf_load_tp_local(t.model_path, dims, base, tp, at::kFloat, unused);
  load_tp_local(dims, adapters, [&](const std::string& n) {
    for (auto& p : adapters)
      if (p.name == n) return lora_init(p, t.seed);
    OT_CHECK(false, "adapter ", n);
    return at::Tensor();
  }, tp, at::kFloat);
  if (!device.is_cpu())
    for (auto& p : all) *p.tensor = p.tensor->to(device);
  for (const auto& p : all) (rule.trainable(p.name) ? out.trainable_params : out.frozen_params) += params_numel({p});
  OT_REQUIRE(out.trainable_params > 0, "every parameter is frozen (freeze_config / peft): nothing would train");
}

LinearFactory train_linear_factory(const TrainSettings& t, const TpDims& dims, const TpGroup& tp) {
  LinearFactory factory = tp_linear_factory(dims, tp);
  if (t.peft.method == "lora") factory = lora_linear_factory(factory, t.peft.lora, lora_target_rule(t.peft));
  return factory;
}

}  // namespace

TrainModel build_train_model(const TrainSettings& t, DeviceMesh& mesh, const at::Device& device) {
  at::NoGradGuard no_grad;
  TrainModel out;
  TpGroup tp = TpGroup::of(mesh.tp());
  TrainableRule rule;
  rule.trainable = trainable_param_rule(t);
  ShardComms comms{&mesh.dp_shard(), mesh.dp_replicate(), &mesh.tp()};
  out.model_type = hf_config_model_type(t.model_path);
  if (out.model_type == "gemma3n") {
    const Gemma3nConfig cfg = gemma3n_config_load(t.model_path);
    tp_validate(TpDims(cfg), mesh.shape().tp);
    auto model = gemma3n_model_for_checkpoint(t.model_path, train_linear_factory(t, cfg, tp));
    model->attention_impl = attention_resolve(attention_impl_from_string(t.attention));
    ParamList all = model->params();
    const Gemma3nModel* m = model.get();
    load_params(t, cfg, tp, all, device, [m](const std::string& n) { return m->unused_checkpoint_tensor(n); }, out, rule);
    out.description = gemma3n_config_describe(cfg) + "; attention " + attention_impl_name(model->attention_impl);
    out.sliding_window = cfg.text.sliding_window;
    out.step_flops = [cfg](const StepShape& s) { return train_step_flops(cfg, s); };
    out.engine = std::make_unique<ShardedGemma3n>(std::move(model), comms, tp, t.sharding, rule);
    return out;
  }
  const Gemma3Config cfg = gemma3_config_load(t.model_path);
  tp_validate(cfg, mesh.shape().tp);
  auto model = std::make_unique<Gemma3Model>(cfg, train_linear_factory(t, cfg, tp));
  model->attention_impl = attention_resolve(attention_impl_from_string(t.attention));
  ParamList all = model->params();
  load_params(t, cfg, tp, all, device, nullptr, out, rule);
  out.description = gemma3_config_describe(cfg) + "; attention " + attention_impl_name(model->attention_impl);
  out.sliding_window = cfg.text.sliding_window;
  out.step_flops = [cfg](const StepShape& s) { return train_step_flops(cfg, s); };
  out.engine = std::make_unique<ShardedGemma3>(std::move(model), comms, tp, t.sharding, rule);
  return out;
}

}  // namespace omnitune
