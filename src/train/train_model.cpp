#include "train/train_model.h"

#include <ATen/core/grad_mode.h>

#include <functional>

#include "core/error.h"
#include "core/log.h"
#include "model/hf_loader.h"
#include "nn/lora.h"
#include "parallel/tp_linear.h"
#include "train/peft.h"

namespace omnitune {
namespace {

AttentionImpl attention_of(const std::string& s) {
  if (s == "reference") return AttentionImpl::Reference;
  if (s == "chunked") return AttentionImpl::Chunked;
  if (s == "sdpa") return AttentionImpl::Sdpa;
  return AttentionImpl::Auto;
}

// Full-size initial value of a new LoRA tensor, identical on every rank.
at::Tensor lora_init(const NamedParam& p, int64_t seed) {
  if (p.name.find(".lora_B.") != std::string::npos) return at::zeros(p.shape, at::kFloat);
  const uint64_t h = std::hash<std::string>{}(p.name);
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL ^ h);
  const double bound = 1.0 / std::sqrt(static_cast<double>(p.shape.at(1)));
  return at::rand(p.shape, gen, at::kFloat) * (2 * bound) - bound;
}

}  // namespace

TrainModel build_train_model(const TrainSettings& t, DeviceMesh& mesh, const at::Device& device) {
  at::NoGradGuard no_grad;
  TrainModel out;
  out.config = gemma3_config_load(t.model_path);
  tp_validate(out.config, mesh.shape().tp);
  TpGroup tp = TpGroup::of(mesh.tp());
  LinearFactory factory = tp_linear_factory(out.config, tp);
  if (t.peft.method == "lora") factory = lora_linear_factory(factory, t.peft.lora, lora_target_rule(t.peft));
  auto model = std::make_unique<Gemma3Model>(out.config, factory);
  model->attention_impl = attention_of(t.attention);

  // Base weights from the checkpoint (each rank its TP slice), adapters from the seeded init.
  ParamList all = model->params(), base, adapters;
  for (auto& p : all) (is_lora_param(p.name) ? adapters : base).push_back(p);
  OT_REQUIRE(t.peft.method != "lora" || !adapters.empty(), "peft.method=lora but no linear layer matches ",
             "peft.include / peft.exclude: nothing would train");
  hf_load_tp_local(t.model_path, out.config, base, tp, at::kFloat);
  load_tp_local(out.config, adapters, [&](const std::string& n) {
    for (auto& p : adapters)
      if (p.name == n) return lora_init(p, t.seed);
    OT_CHECK(false, "adapter ", n);
    return at::Tensor();
  }, tp, at::kFloat);
  if (!device.is_cpu())
    for (auto& p : all) *p.tensor = p.tensor->to(device);

  TrainableRule rule;
  rule.trainable = trainable_param_rule(t);
  for (const auto& p : all) (rule.trainable(p.name) ? out.trainable_params : out.frozen_params) += params_numel({p});
  OT_REQUIRE(out.trainable_params > 0, "every parameter is frozen (freeze_config / peft): nothing would train");
  ShardComms comms{&mesh.dp_shard(), mesh.dp_replicate(), &mesh.tp()};
  out.engine = std::make_unique<ShardedGemma3>(std::move(model), comms, tp, t.sharding, rule);
  return out;
}

}  // namespace omnitune
