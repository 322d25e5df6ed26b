// Shared by the parallel-engine tests and bench: a tiny Gemma 3 with deterministic random
// weights, deterministic synthetic global batches (text-only and image samples mixed), and a
// training run of any Workload (model + batches; Gemma 3 here, Gemma 3n in parallel3n_test) over
// any (DP, TP) mesh carved out of a communicator, returning per-step losses, gradient norms,
// final full parameters and the engine's own communication/memory accounting.
#pragma once

#include <ATen/ATen.h>
#include <mpi.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dist/device_mesh.h"
#include "dist/mpi_comm.h"
#include "model/gemma3_presets.h"
#include "nn/lora.h"
#include "parallel/sharded_adamw.h"
#include "parallel/sharded_gemma3.h"
#include "parallel/tp_linear.h"

namespace omnitune::ptest {

inline Topology& topo() {
  static Topology t = topology_from_mpi(MPI_COMM_WORLD);
  return t;
}

inline Gemma3Config tiny_vlm() { return gemma3_config_parse(gemma3_preset_config_json("tiny-vlm"), "tiny-vlm"); }

// LoRA on every language-model projection (the reference's default targets).
inline bool lora_target(const std::string& module) {
  return module.find("language_model") != std::string::npos && module.find("_proj") != std::string::npos;
}

inline LinearFactory with_lora(LinearFactory inner, bool lora, double dropout = 0) {
  if (!lora) return inner;
  LoraOptions o;
  o.rank = 4;
  o.alpha = 8;
  o.dropout = dropout;
  return lora_linear_factory(std::move(inner), o, lora_target);
}

// Full (un-split) fp32 weights, the same on every rank for a seed. LoRA B starts at zero; A is
// random, as PEFT initialises them.
inline std::map<std::string, at::Tensor> full_weights(const Gemma3Config& cfg, uint64_t seed, bool lora = false) {
  Gemma3Model m(cfg, with_lora(dense_linear_factory(), lora));
  ParamList p = m.params();
  params_init_random(p, at::TensorOptions().dtype(at::kFloat), 0.05, seed);
  std::map<std::string, at::Tensor> out;
  for (auto& q : p) {
    if (q.name.find(".lora_B.") != std::string::npos) q.tensor->zero_();
    out[q.name] = *q.tensor;
  }
  return out;
}

struct Sample {
  at::Tensor ids, targets, token_type;  // [T]
  at::Tensor pixels;                    // [1, 3, S, S] or undefined
};

// Global batch `step` of `n` samples, length T; odd samples carry one image.
inline std::vector<Sample> global_batch(const Gemma3Config& cfg, int step, int n, int64_t T) {
  at::Generator gen = at::detail::createCPUGenerator(1000 + step);
  std::vector<Sample> out;
  const int64_t V = cfg.text.vocab_size, S = cfg.vision.image_size, k = cfg.mm_tokens_per_image;
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.ids = at::randint(3, V - 1, {T}, gen, at::kLong);
    s.token_type = at::zeros({T}, at::kLong);
    if (i % 2 == 1) {
      s.ids.narrow(0, 2, k).fill_(cfg.image_token_id);
      s.token_type.narrow(0, 2, k).fill_(1);
      s.pixels = at::randn({1, 3, S, S}, gen, at::kFloat);
    }
    // Loss on a random subset of the positions after the image (varying counts per sample). The
    // target is a fixed function of the current token, so there is something to learn: gradients
    // are coherent (not noise), and the run's loss visibly falls.
    at::Tensor pick = at::rand({T}, gen) < (0.3 + 0.1 * i);
    pick.narrow(0, 0, 2 + k).fill_(false);
    at::Tensor rule = (s.ids * 7 + 3) % (V - 3) + 3;
    s.targets = at::where(pick, rule, at::full_like(rule, -100));
    out.push_back(s);
  }
  return out;
}

inline MicroBatch collate(const std::vector<Sample>& all, int begin, int count) {
  std::vector<at::Tensor> ids, tg, tt, px;
  for (int i = begin; i < begin + count; ++i) {
    ids.push_back(all[i].ids);
    tg.push_back(all[i].targets);
    tt.push_back(all[i].token_type);
    if (all[i].pixels.defined()) px.push_back(all[i].pixels);
  }
  MicroBatch mb;
  mb.inputs.input_ids = at::stack(ids);
  mb.inputs.token_type_ids = at::stack(tt);
  if (!px.empty()) mb.inputs.pixel_values = at::cat(px);
  mb.targets = at::stack(tg);
  return mb;
}

struct Variant {
  at::ScalarType dtype = at::kFloat;
  bool ac = true, reshard = true, prefetch = true;
  std::function<bool(const std::string&)> trainable = [](const std::string&) { return true; };
  bool lora = false;
  double lora_dropout = 0;  // with lora: dropout keys per sample (global index in its step)
  int steps = 5, grad_accum = 2, global_batch = 8;
  int64_t seq = 24;
  double lr = 1e-3;
  double adam_eps = 1e-6;  // see parallel_test.cpp: damps the amplification of last-bit gradient noise
};

struct RunResult {
  std::vector<double> losses, norms;
  std::map<std::string, at::Tensor> params;  // full fp32 values after training
  CommStats dp_stats, tp_stats;              // of the training steps only
  int64_t persistent_bytes = 0, peak_gathered_bytes = 0;
  int64_t trainable_numel = 0;
};

// What a training run trains: the engine for a mesh (model built with the mesh's TP plan and
// loaded with its slices) and the global batches, as functions of the step index only.
struct Workload {
  std::function<std::unique_ptr<ShardedEngine>(DeviceMesh&, const ShardingOptions&, const TrainableRule&)> engine;
  std::function<MicroBatch(int step, int begin, int count)> micro_batch;  // samples [begin, begin+count) of a step
  std::function<int64_t(int step)> loss_tokens;                          // in the whole global batch
};

// The tiny Gemma 3 VLM with `weights` and the synthetic batches of global_batch().
inline Workload gemma3_workload(const Gemma3Config& cfg, const std::map<std::string, at::Tensor>& weights,
                                const Variant& v) {
  Workload w;
  w.engine = [cfg, &weights, lora = v.lora, dropout = v.lora_dropout](DeviceMesh& mesh, const ShardingOptions& so,
                                                                       const TrainableRule& rule) {
    TpGroup tpg = TpGroup::of(mesh.tp());
    auto model = std::make_unique<Gemma3Model>(cfg, with_lora(tp_linear_factory(cfg, tpg), lora, dropout));
    ParamList params = model->params();
    load_tp_local(cfg, params, [&](const std::string& n) { return weights.at(n); }, tpg, at::kFloat);
    ShardComms comms{&mesh.dp_shard(), mesh.dp_replicate(), &mesh.tp()};
    return std::unique_ptr<ShardedEngine>(std::make_unique<ShardedGemma3>(std::move(model), comms, tpg, so, rule));
  };
  const int n = v.global_batch;
  const int64_t T = v.seq;
  const bool dropout = v.lora && v.lora_dropout > 0;
  w.micro_batch = [cfg, n, T, dropout](int step, int begin, int count) {
    MicroBatch mb = collate(global_batch(cfg, step, n, T), begin, count);
    if (dropout) {
      std::vector<int64_t> keys;
      for (int i = begin; i < begin + count; ++i) keys.push_back(lora_dropout_key(99, step, i));
      mb.dropout_keys = at::tensor(keys, at::kLong);
    }
    return mb;
  };
  w.loss_tokens = [cfg, n, T](int step) {
    int64_t d = 0;
    for (auto& s : global_batch(cfg, step, n, T)) d += (s.targets != -100).sum().item<int64_t>();
    return d;
  };
  return w;
}

// One training run on `group` (dp * tp ranks), step by step (checkpoint tests stop and resume it).
class TestRun {
 public:
  TestRun(Comm& group, int dp, int tp, const Variant& v, const std::map<std::string, at::Tensor>& weights,
          const Gemma3Config& cfg, int replicate = 1)
      : TestRun(group, dp, tp, v, gemma3_workload(cfg, weights, v), replicate) {}

  TestRun(Comm& group, int dp, int tp, const Variant& v, Workload work, int replicate = 1)
      : v_(v), work_(std::move(work)), dp_(dp), tp_(tp), mesh_(group, topo(), dp, tp, replicate) {
    ShardingOptions so;
    so.compute_dtype = v.dtype;
    so.activation_checkpointing = v.ac;
    so.reshard_after_forward = v.reshard;
    so.prefetch = v.prefetch;
    so.loss_chunk_tokens = 7;  // several chunks per micro-batch
    TrainableRule rule;
    rule.trainable = v.trainable;
    comms_ = ShardComms{&mesh_.dp_shard(), mesh_.dp_replicate(), &mesh_.tp()};
    engine_ = work_.engine(mesh_, so, rule);
    std::vector<FlatGroup*> groups;
    for (auto& u : engine_->units())
      if (u->trainable()) groups.push_back(u->trainable());
    AdamWOptions ao;
    ao.eps = v.adam_eps;
    opt_ = std::make_unique<ShardedAdamW>(groups, comms_, ao);
    result_.persistent_bytes = engine_->persistent_bytes();
    result_.trainable_numel = engine_->trainable_numel();
    mesh_.dp().reset_stats();
    mesh_.tp().reset_stats();
  }

  // Optimizer step `step` (its global batch is a function of the index only).
  void step(int step) {
    const int per_rank = v_.global_batch / dp_, mb = per_rank / v_.grad_accum;
    const int64_t denom = work_.loss_tokens(step);
    double loss = 0;
    for (int k = 0; k < v_.grad_accum; ++k) {
      MicroBatch m = work_.micro_batch(step, mesh_.dp_rank() * per_rank + k * mb, mb);
      loss += engine_->forward_backward(m, static_cast<double>(denom)).loss_sum;
    }
    engine_->synchronize();
    at::Tensor l = at::full({1}, loss, at::kDouble);
    mesh_.dp().all_reduce(l, ReduceOp::Sum);
    result_.losses.push_back(l.item<double>() / static_cast<double>(denom));
    result_.norms.push_back(opt_->step(v_.lr).grad_norm);
  }

  // Statistics and the full parameters (collectives over the group).
  RunResult finish() {
    RunResult r = result_;
    r.dp_stats = mesh_.dp().stats();
    r.tp_stats = mesh_.tp().stats();
    r.peak_gathered_bytes = engine_->gather_accounting().peak.load();
    engine_->for_each_full_param(false, [&](const std::string& n, const at::Tensor& t) { r.params[n] = t; });
    return r;
  }

  ShardedEngine& engine() { return *engine_; }
  ShardedAdamW& optimizer() { return *opt_; }
  DeviceMesh& mesh() { return mesh_; }

 private:
  Variant v_;
  Workload work_;
  int dp_, tp_;
  DeviceMesh mesh_;
  ShardComms comms_;
  std::unique_ptr<ShardedEngine> engine_;
  std::unique_ptr<ShardedAdamW> opt_;
  RunResult result_;
};

inline RunResult train(Comm& group, int dp, int tp, const Variant& v, Workload work, int replicate = 1) {
  TestRun run(group, dp, tp, v, std::move(work), replicate);
  for (int s = 0; s < v.steps; ++s) run.step(s);
  return run.finish();
}

inline RunResult train(Comm& group, int dp, int tp, const Variant& v,
                       const std::map<std::string, at::Tensor>& weights, const Gemma3Config& cfg,
                       int replicate = 1) {
  return train(group, dp, tp, v, gemma3_workload(cfg, weights, v), replicate);
}

// Splits `world` into groups of n consecutive ranks (n divides the world size).
inline std::unique_ptr<Comm> groups_of(Comm& world, int n) {
  return world.split(world.rank() / n, world.rank() % n, "group" + std::to_string(n));
}

}  // namespace omnitune::ptest
