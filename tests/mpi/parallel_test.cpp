// The parallel engine proven equal to one rank (issue 5): the same tiny Gemma 3 VLM, the same
// data, 5 AdamW steps with gradient accumulation 2, trained on every (DP, TP) mesh that fits the
// job: per-step losses, gradient norms and final parameters must match the single-rank run.
// Under -np 2: (1,1) (2,1) (1,2). Under -np 4 also: (4,1) (2,2) (1,4).
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include <cmath>

#include "core/error.h"
#include "parallel_harness.h"

using namespace omnitune;
using namespace omnitune::ptest;

namespace {

struct Fixture {
  Gemma3Config cfg = tiny_vlm();
  std::map<std::string, at::Tensor> weights = full_weights(cfg, 7);
  std::map<std::string, at::Tensor> lora_weights = full_weights(cfg, 7, true);
};

Fixture& fx() {
  static Fixture f;
  return f;
}

double rel(double a, double b) { return std::abs(a - b) / std::max(1e-12, std::abs(b)); }

// Worst relative differences seen, printed by rank 0 so the margins are visible in CI logs.
struct Worst {
  double loss = 0, norm = 0, param = 0;
};

Worst compare(const RunResult& got, const RunResult& ref, double tol, const std::string& what,
              double param_tol = 0) {
  if (param_tol == 0) param_tol = tol;
  Worst w;
  EXPECT_EQ(got.losses.size(), ref.losses.size());
  for (size_t s = 0; s < ref.losses.size() && s < got.losses.size(); ++s) {
    w.loss = std::max(w.loss, rel(got.losses[s], ref.losses[s]));
    w.norm = std::max(w.norm, rel(got.norms[s], ref.norms[s]));
    EXPECT_LT(rel(got.losses[s], ref.losses[s]), tol) << what << " step " << s << " loss " << got.losses[s]
                                                      << " vs " << ref.losses[s];
    EXPECT_LT(rel(got.norms[s], ref.norms[s]), tol) << what << " step " << s << " grad norm " << got.norms[s]
                                                    << " vs " << ref.norms[s];
  }
  EXPECT_EQ(got.params.size(), ref.params.size());
  for (const auto& [name, want] : ref.params) {
    const at::Tensor& have = got.params.at(name);
    EXPECT_EQ(have.sizes(), want.sizes()) << what << " " << name;
    // Relative in the tensor norm: AdamW turns last-bit differences of near-zero gradients into
    // visible per-element differences (update ~ g / (|g| + eps)); the norm is robust to that.
    const double diff = (have - want).norm().item<double>() / std::max(1e-12, want.norm().item<double>());
    w.param = std::max(w.param, diff);
    EXPECT_LT(diff, param_tol) << what << " parameter " << name;
  }
  if (MpiComm::world()->rank() == 0)
    std::printf("  %-30s worst relative diff: loss %.2e, grad norm %.2e (tolerance %.0e), params %.2e (%.0e)\n",
                what.c_str(), w.loss, w.norm, tol, w.param, param_tol);
  return w;
}

struct Mesh {
  int dp, tp;
};

// Every (DP, TP) mesh of the issue that fits the job's rank count.
std::vector<Mesh> meshes() {
  std::vector<Mesh> out;
  const int n = MpiComm::world()->size();
  for (Mesh m : {Mesh{2, 1}, Mesh{1, 2}, Mesh{4, 1}, Mesh{2, 2}, Mesh{1, 4}})
    if (n % (m.dp * m.tp) == 0) out.push_back(m);
  return out;
}

std::string label(const std::string& variant, Mesh m) {
  return variant + " dp" + std::to_string(m.dp) + " tp" + std::to_string(m.tp);
}

RunResult run_on(Mesh m, const Variant& v, const std::map<std::string, at::Tensor>& w, int replicate = 1) {
  auto world = MpiComm::world();
  auto group = groups_of(*world, m.dp * m.tp);
  return train(*group, m.dp, m.tp, v, w, fx().cfg, replicate);
}

RunResult single(const Variant& v, const std::map<std::string, at::Tensor>& w) { return run_on(Mesh{1, 1}, v, w); }

void check_all_meshes(const std::string& name, const Variant& v, const std::map<std::string, at::Tensor>& w,
                      double tol) {
  RunResult ref = single(v, w);
  // The run must actually learn, or equality would prove little.
  EXPECT_LT(ref.losses.back(), ref.losses.front() * 0.999) << name;
  for (Mesh m : meshes()) compare(run_on(m, v, w), ref, tol, label(name, m));
}

}  // namespace

// fp32, activation checkpointing, reshard after forward, prefetch: the default engine.
TEST(ParallelEquivalence, AllMeshesFp32) { check_all_meshes("fp32", Variant{}, fx().weights, 1e-5); }

// Hybrid sharding: DP split into replicas x shards (gradients reduce-scattered inside a replica,
// then all-reduced across replicas). Under 2 ranks: 2 replicas of 1; under 4: 2 x 2 and 2 x 1 x tp 2.
TEST(ParallelEquivalence, HybridSharding) {
  RunResult ref = single(Variant{}, fx().weights);
  const int n = MpiComm::world()->size();
  for (Mesh m : {Mesh{2, 1}, Mesh{4, 1}, Mesh{2, 2}}) {
    if (n % (m.dp * m.tp) != 0) continue;
    compare(run_on(m, Variant{}, fx().weights, 2), ref, 1e-5, label("hybrid 2 replicas", m));
  }
}

// Each engine option changes memory and communication, never results.
TEST(ParallelEquivalence, NoActivationCheckpointing) {
  Variant v;
  v.ac = false;
  check_all_meshes("no-ac", v, fx().weights, 1e-5);
}

TEST(ParallelEquivalence, NoReshardNoPrefetch) {
  Variant v;
  v.reshard = false;
  v.prefetch = false;
  check_all_meshes("no-reshard no-prefetch", v, fx().weights, 1e-5);
}

// A frozen vision tower is gathered for compute but never trained: bitwise unchanged everywhere.
TEST(ParallelEquivalence, FrozenVisionTower) {
  Variant v;
  v.trainable = [](const std::string& n) { return n.find("vision_tower") == std::string::npos; };
  RunResult ref = single(v, fx().weights);
  int64_t want_trainable = 0;
  for (const auto& [name, t] : fx().weights)
    if (v.trainable(name)) want_trainable += t.numel();
  EXPECT_EQ(ref.trainable_numel, want_trainable);
  for (const auto& [name, t] : ref.params) {
    if (name.find("vision_tower") != std::string::npos) {
      EXPECT_TRUE(at::equal(t, fx().weights.at(name))) << name << " changed though frozen";
    }
  }
  for (Mesh m : meshes()) {
    RunResult got = run_on(m, v, fx().weights);
    compare(got, ref, 1e-5, label("frozen-vision", m));
  }
}

// freeze_embeddings and freeze_language_model: the frozen parameters stay bitwise unchanged on
// every mesh while the rest trains (the vision tower is covered above).
TEST(ParallelEquivalence, FrozenEmbeddingsAndLanguageModel) {
  const std::vector<std::pair<std::string, std::function<bool(const std::string&)>>> cases = {
      {"embed_tokens", [](const std::string& n) { return n.find("embed_tokens") != std::string::npos; }},
      {"language model", [](const std::string& n) {
         return n.find("language_model.layers") != std::string::npos || n.find("language_model.norm") != std::string::npos;
       }}};
  for (const auto& [what, frozen] : cases) {
    Variant v;
    v.steps = 2;
    v.trainable = [f = frozen](const std::string& n) { return !f(n); };
    for (Mesh m : meshes()) {
      RunResult got = run_on(m, v, fx().weights);
      int unchanged = 0, changed = 0;
      for (const auto& [name, t] : got.params) {
        const bool same = at::equal(t, fx().weights.at(name));
        if (frozen(name)) {
          EXPECT_TRUE(same) << name << " changed though " << what << " is frozen";
          ++unchanged;
        } else {
          changed += !same;
        }
      }
      EXPECT_GT(unchanged, 0);
      EXPECT_GT(changed, 0) << "nothing trained with " << what << " frozen";
    }
  }
}

// LoRA: only adapters train; every base weight stays bitwise equal on every mesh.
TEST(ParallelEquivalence, Lora) {
  Variant v;
  v.lora = true;
  v.lr = 3e-3;
  v.trainable = [](const std::string& n) { return is_lora_param(n); };
  RunResult ref = single(v, fx().lora_weights);
  EXPECT_LT(ref.losses.back(), ref.losses.front() * 0.999);
  for (Mesh m : meshes()) {
    RunResult got = run_on(m, v, fx().lora_weights);
    // Adapter parameters: 5e-4. Losses and gradient norms agree to 1e-7, but B starts at zero and
    // the early adapter gradients are tiny and partly cancelling (q_proj feeds q_norm), so AdamW's
    // g / (|g| + eps) magnifies last-bit differences in those few elements.
    compare(got, ref, 1e-5, label("lora", m), 5e-4);
    int changed = 0;
    for (const auto& [name, t] : got.params) {
      if (is_lora_param(name)) {
        changed += !at::equal(t, fx().lora_weights.at(name));
        continue;
      }
      EXPECT_TRUE(at::equal(t, fx().lora_weights.at(name))) << name << " changed though frozen";
    }
    EXPECT_GT(changed, 0) << "no adapter weight changed";
  }
}

// LoRA dropout (issue 26): per-sample masks, so every mesh (DP splits samples over ranks and
// micro-batches; TP replicates or slices the adapter inputs) trains like one rank, with and without
// activation checkpointing (the recompute draws the same masks). Dropout changes the losses once
// B is non-zero (from the second step; the first step's adapters contribute nothing).
TEST(ParallelEquivalence, LoraDropout) {
  Variant plain;
  plain.lora = true;
  plain.lr = 3e-3;
  plain.trainable = [](const std::string& n) { return is_lora_param(n); };
  Variant v = plain;
  v.lora_dropout = 0.1;
  RunResult ref = single(v, fx().lora_weights);
  RunResult without = single(plain, fx().lora_weights);
  EXPECT_EQ(ref.losses[0], without.losses[0]) << "step 1: B is zero, dropout cannot matter";
  for (size_t s = 1; s < ref.losses.size(); ++s)
    EXPECT_GT(std::abs(ref.losses[s] - without.losses[s]), 1e-6 * std::abs(without.losses[s]))
        << "dropout 0.1 left step " << s + 1 << "'s loss unchanged";
  Variant no_ac = v;
  no_ac.ac = false;
  compare(single(no_ac, fx().lora_weights), ref, 1e-6, "lora dropout no-ac", 1e-5);
  for (Mesh m : meshes()) compare(run_on(m, v, fx().lora_weights), ref, 1e-5, label("lora dropout", m), 5e-4);
}

// bf16 compute (fp32 master weights and gradient reduction): agreement within the bf16 rounding
// of activations, documented in docs/parallelism.md.
TEST(ParallelEquivalence, Bf16Compute) {
  Variant v;
  v.dtype = at::kBFloat16;
  check_all_meshes("bf16", v, fx().weights, 3e-2);
}

namespace {

// TP-local element counts of the FSDP units, from the weights and the TP plan alone (not from
// the engine): vision, embed, blocks..., head.
struct UnitSizes {
  int64_t vision = 0, embed = 0, head = 0;
  std::vector<int64_t> blocks;
};

UnitSizes unit_sizes(const Gemma3Config& cfg, int tp) {
  UnitSizes u;
  u.blocks.assign(cfg.text.num_hidden_layers, 0);
  for (const auto& [name, t] : fx().weights) {
    std::vector<int64_t> shape = tp_local_shape(tp_param_plan(cfg, name, tp), t.sizes().vec(), 0, tp);
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (name.find("vision_tower") != std::string::npos || name.find("multi_modal_projector") != std::string::npos)
      u.vision += n;
    else if (name.find("embed_tokens") != std::string::npos)
      u.embed += n;
    else if (name.find(".layers.") != std::string::npos)
      u.blocks[std::stoi(name.substr(name.find(".layers.") + 8))] += n;
    else
      u.head += n;
  }
  return u;
}

int64_t padded(int64_t n, int dp) { return (n + dp - 1) / dp * dp; }

}  // namespace

// Bytes moved per step equal the formulas of docs/parallelism.md exactly (fp32, activation
// checkpointing, reshard after forward, everything trainable).
TEST(ParallelAccounting, CommunicationBytesMatchFormula) {
  const Gemma3Config& cfg = fx().cfg;
  const Variant v;
  const int64_t es = 4, D = cfg.text.hidden_size, hd = cfg.text.head_dim, KV = cfg.text.num_key_value_heads;
  for (Mesh m : meshes()) {
    RunResult r = run_on(m, v, fx().weights);
    const UnitSizes u = unit_sizes(cfg, m.tp);
    int64_t blocks = 0;
    for (int64_t b : u.blocks) blocks += padded(b, m.dp);
    const int64_t micro_steps = int64_t(v.steps) * v.grad_accum;
    // DP: gathers (vision fwd+recompute, embed fwd+head, blocks fwd+recompute, head once);
    // reduce-scatters in fp32 (vision, embed from head and from embedding, blocks, head).
    const int64_t ag = micro_steps * es *
                       (2 * padded(u.vision, m.dp) + 2 * padded(u.embed, m.dp) + 2 * blocks + padded(u.head, m.dp));
    const int64_t rs = micro_steps * 4 *
                       (padded(u.vision, m.dp) + 2 * padded(u.embed, m.dp) + blocks + padded(u.head, m.dp));
    EXPECT_EQ(r.dp_stats.bytes_of(CommOp::AllGather), uint64_t(ag)) << label("fp32", m);
    EXPECT_EQ(r.dp_stats.bytes_of(CommOp::ReduceScatter), uint64_t(rs)) << label("fp32", m);
    EXPECT_EQ(r.dp_stats.bytes_of(CommOp::AllReduce), uint64_t(v.steps * (16 + 8)))  // grad norm + test's loss sum
        << label("fp32", m);
    // TP: per micro-batch of B x T tokens with n loss tokens, per block: 2 row-parallel
    // all-reduces in forward and 2 more in the checkpoint recompute, 5 column-parallel gradient
    // all-reduces (q, k, v, gate, up), the partial gradients of q_norm/k_norm (and of replicated
    // K/V weights when tp > KV heads); the embedding's all-reduce; per loss token 3 fp32 scalars
    // of the vocab-parallel CE and one D-vector gradient; per step the grad-norm scalar.
    int64_t tp_bytes = 0;
    if (m.tp > 1) {
      const int per_rank = v.global_batch / m.dp, mb = per_rank / v.grad_accum;
      // Loss tokens of every micro-batch this TP group processed: sum over its DP row's slices.
      auto world = MpiComm::world();
      const int dp_rank = (world->rank() % (m.dp * m.tp)) / m.tp;
      int64_t loss_tokens = 0;
      for (int step = 0; step < v.steps; ++step) {
        auto batch = global_batch(cfg, step, v.global_batch, v.seq);
        for (int i = dp_rank * per_rank; i < (dp_rank + 1) * per_rank; ++i)
          loss_tokens += (batch[i].targets != -100).sum().item<int64_t>();
      }
      const int64_t BTD = int64_t(mb) * v.seq * D * es;
      int64_t per_micro = BTD + cfg.text.num_hidden_layers * (9 * BTD + 2 * hd * 4);
      if (m.tp > KV) per_micro += cfg.text.num_hidden_layers * 2 * (KV * hd * D) * 4;
      tp_bytes = micro_steps * per_micro + loss_tokens * (12 + D * es) + v.steps * 8;
    }
    EXPECT_EQ(r.tp_stats.bytes_of(CommOp::AllReduce), uint64_t(tp_bytes)) << label("fp32", m);
    EXPECT_EQ(r.tp_stats.bytes_of(CommOp::AllGather) + r.tp_stats.bytes_of(CommOp::ReduceScatter), 0u);
  }
}

// Per-rank memory from the engine's own accounting: shards are 1/DP of the unit (padded), with
// fp32 master + gradient + two moments for trainable units and compute-dtype shards for frozen
// ones; without prefetch at most one block, or the head with the tied embedding, is gathered.
TEST(ParallelAccounting, MemoryMatchesFormula) {
  const Gemma3Config& cfg = fx().cfg;
  for (bool frozen_vision : {false, true}) {
    Variant v;
    v.prefetch = false;
    v.steps = 1;
    if (frozen_vision) v.trainable = [](const std::string& n) { return n.find("vision_tower") == std::string::npos; };
    for (Mesh m : meshes()) {
      RunResult r = run_on(m, v, fx().weights);
      const UnitSizes u = unit_sizes(cfg, m.tp);
      // The vision unit mixes trainable (projector) and frozen (tower) parts when frozen_vision.
      int64_t tower = 0;
      for (const auto& [name, t] : fx().weights)
        if (name.find("vision_tower") != std::string::npos) tower += t.numel();
      auto shard = [&](int64_t n) { return padded(n, m.dp) / m.dp; };
      int64_t want = 16 * (shard(u.embed) + shard(u.head));
      for (int64_t b : u.blocks) want += 16 * shard(b);
      want += frozen_vision ? 16 * shard(u.vision - tower) + 4 * shard(tower) : 16 * shard(u.vision);
      EXPECT_EQ(r.persistent_bytes, want) << label(frozen_vision ? "frozen-vision" : "fp32", m);
      int64_t peak = padded(u.head, m.dp) + padded(u.embed, m.dp);
      for (int64_t b : u.blocks) peak = std::max(peak, padded(b, m.dp));
      const int64_t vision_gathered =
          frozen_vision ? padded(u.vision - tower, m.dp) + padded(tower, m.dp) : padded(u.vision, m.dp);
      peak = std::max(peak, vision_gathered);
      EXPECT_EQ(r.peak_gathered_bytes, 4 * peak) << label("peak", m);
    }
  }
}

// The engine's loss is the model's: the same micro-batch through Gemma3Model::forward_logits and
// an ordinary cross-entropy (the inference path omnitune-generate uses) gives the same loss.
TEST(ParallelEquivalence, EngineLossEqualsPlainModelForward) {
  const Gemma3Config& cfg = fx().cfg;
  auto batch = global_batch(cfg, 0, 4, 24);
  MicroBatch mb = collate(batch, 0, 4);
  Gemma3Model plain(cfg);
  ParamList p = plain.params();
  for (auto& q : p) *q.tensor = fx().weights.at(q.name).clone();
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    logits = plain.forward_logits(mb.inputs);
  }
  at::Tensor want = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), mb.targets.reshape({-1}), {},
                                           at::Reduction::Sum, -100);
  auto world = MpiComm::world();
  auto single = groups_of(*world, 1);
  TestRun run(*single, 1, 1, Variant{}, fx().weights, cfg);
  const auto got = run.engine().forward_loss(mb);
  EXPECT_EQ(got.tokens, (mb.targets != -100).sum().item<int64_t>());
  EXPECT_NEAR(got.loss_sum, want.item<double>(), 1e-4 * std::abs(want.item<double>()));
}
