// Single-process checks of the parallel engine's pure parts: the TP plan and its errors, the
// vocab-parallel cross-entropy against ATen's (one rank), LoRA's identity at initialisation,
// and the hybrid mesh shape rules. Multi-rank behaviour: tests/mpi/parallel_test.cpp.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <filesystem>

#include "core/error.h"
#include "dist/device_mesh.h"
#include "model/gemma3_presets.h"
#include "nn/lora.h"
#include "nn/tensor_io.h"
#include "parallel/sharded_gemma3.h"
#include "parallel/tp_linear.h"
#include "parallel/tp_plan.h"
#include "../test_util.h"
#include "parallel/vocab_parallel.h"

using namespace omnitune;
using test_util::error_of;

namespace {

Gemma3Config preset(const std::string& p) { return gemma3_config_parse(gemma3_preset_config_json(p), p); }

// LoRA of rank 2, alpha 4 (scale 2) on the module "x.q_proj" only.
LinearFactory q_proj_lora_factory(double dropout) {
  LoraOptions o;
  o.rank = 2;
  o.alpha = 4;
  o.dropout = dropout;
  return lora_linear_factory(dense_linear_factory(), o, [](const std::string& m) { return m == "x.q_proj"; });
}

}  // namespace

TEST(TpPlan, ImpossibleMeshesAreClearErrors) {
  Gemma3Config c = preset("tiny-vlm");  // 4 heads, 2 KV heads, MLP 128, vocab 512
  EXPECT_NO_THROW(tp_validate(c, 1));
  EXPECT_NO_THROW(tp_validate(c, 2));
  EXPECT_NO_THROW(tp_validate(c, 4));  // KV heads replicated
  EXPECT_NE(error_of([&] { tp_validate(c, 3); }).find("does not divide the model's 4 query heads"), std::string::npos);
  EXPECT_NE(error_of([&] { tp_validate(c, 8); }).find("query heads"), std::string::npos);
  c.text.vocab_size = 510;
  EXPECT_NE(error_of([&] { tp_validate(c, 4); }).find("vocabulary size 510"), std::string::npos);
  EXPECT_NE(error_of([] { mesh_shape_resolve(4, -1, 3); }).find("does not divide the world size 4"), std::string::npos);
  EXPECT_NE(error_of([] { mesh_shape_resolve(8, -1, 2, 3); }).find("dp_replicate=3"), std::string::npos);
  EXPECT_EQ(mesh_shape_resolve(8, -1, 2, 2).shard(), 2);
}

TEST(TpPlan, GemmaLayout) {
  const Gemma3Config c = preset("tiny-vlm");
  const std::string L = "model.language_model.layers.0.";
  auto split = [&](const std::string& n, int tp) { return tp_param_plan(c, n, tp).split; };
  EXPECT_EQ(split(L + "self_attn.q_proj.weight", 2), TpSplit::Rows);
  EXPECT_EQ(split(L + "self_attn.k_proj.weight", 2), TpSplit::Rows);
  EXPECT_EQ(split(L + "self_attn.k_proj.weight", 4), TpSplit::Replicated);
  EXPECT_TRUE(tp_param_plan(c, L + "self_attn.k_proj.weight", 4).partial_grad);
  EXPECT_EQ(split(L + "self_attn.o_proj.weight", 2), TpSplit::Cols);
  EXPECT_EQ(split(L + "mlp.down_proj.weight", 2), TpSplit::Cols);
  EXPECT_EQ(split(L + "mlp.up_proj.weight", 2), TpSplit::Rows);
  EXPECT_EQ(split("model.language_model.embed_tokens.weight", 2), TpSplit::Rows);
  EXPECT_TRUE(tp_param_plan(c, L + "self_attn.q_norm.weight", 2).partial_grad);
  EXPECT_FALSE(tp_param_plan(c, L + "self_attn.q_norm.weight", 1).partial_grad);
  EXPECT_EQ(split(L + "input_layernorm.weight", 2), TpSplit::Replicated);
  EXPECT_EQ(split("model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight", 2), TpSplit::Replicated);
  // LoRA adapters follow their base layer.
  EXPECT_EQ(split(L + "self_attn.q_proj.lora_A.weight", 2), TpSplit::Replicated);
  EXPECT_EQ(split(L + "self_attn.q_proj.lora_B.weight", 2), TpSplit::Rows);
  EXPECT_EQ(split(L + "self_attn.o_proj.lora_A.weight", 2), TpSplit::Cols);
  EXPECT_EQ(split(L + "self_attn.o_proj.lora_B.weight", 2), TpSplit::Replicated);
  EXPECT_TRUE(tp_param_plan(c, L + "self_attn.v_proj.lora_B.weight", 4).partial_grad);
  EXPECT_FALSE(tp_param_plan(c, L + "self_attn.v_proj.lora_A.weight", 4).partial_grad);
  // Slices tile the full tensor.
  at::Tensor full = at::arange(24, at::kFloat).view({4, 6});
  const TpParamPlan cols{TpSplit::Cols, false};
  EXPECT_TRUE(at::equal(at::cat({tp_slice(cols, full, 0, 2), tp_slice(cols, full, 1, 2)}, 1), full));
  EXPECT_EQ(tp_local_shape(cols, {4, 6}, 1, 2), (std::vector<int64_t>{4, 3}));
}

TEST(VocabParallel, CrossEntropyMatchesAtenOnOneRank) {
  at::manual_seed(3);
  at::Tensor logits = at::randn({10, 37}, at::kFloat).requires_grad_(true);
  at::Tensor targets = at::randint(0, 37, {10}, at::kLong);
  targets[3] = -100;
  at::Tensor mine = vocab_parallel_cross_entropy(logits, targets, 0, nullptr);
  at::Tensor ref = at::cross_entropy_loss(logits, targets, {}, at::Reduction::None, -100);
  EXPECT_TRUE(at::allclose(mine, ref, 1e-6, 1e-6));
  EXPECT_EQ(mine[3].item<float>(), 0.0f);
  auto g1 = torch::autograd::grad({mine.sum()}, {logits});
  auto g2 = torch::autograd::grad({ref.sum()}, {logits});
  EXPECT_TRUE(at::allclose(g1[0], g2[0], 1e-6, 1e-6));
}

// LoRA dropout masks (nn/lora.h): Bernoulli(1 - p) keeps scaled by 1/(1-p), a pure function of
// (sample key, layer, row, full column), so they do not depend on the padded length, the TP slice
// or which micro-batch holds the sample.
TEST(LoraDropout, MaskIsScaledBernoulliAndAPureFunctionOfPosition) {
  const double p = 0.1;
  const auto opt = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor keys = at::tensor({lora_dropout_key(7, 0, 3), lora_dropout_key(7, 0, 4)}, at::kLong);
  const int64_t layer = lora_layer_key("model.language_model.layers.0.self_attn.q_proj");
  const at::Tensor m = lora_dropout_mask(keys, layer, {2, 64, 256}, 0, 256, p, opt);
  const float kept = float(1.0 / (1.0 - p));
  EXPECT_TRUE(((m == 0) | (m == kept)).all().item<bool>());
  const double dropped = (m == 0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, p, 0.01);  // 32768 draws: 5 sigma is 0.008
  // The two samples and two layers draw different masks; the same inputs draw the same one.
  EXPECT_FALSE(at::equal(m[0], m[1]));
  EXPECT_FALSE(at::equal(m, lora_dropout_mask(keys, lora_layer_key("other"), {2, 64, 256}, 0, 256, p, opt)));
  EXPECT_TRUE(at::equal(m, lora_dropout_mask(keys, layer, {2, 64, 256}, 0, 256, p, opt)));
  // Another epoch, another mask for the same sample.
  const at::Tensor k1 = at::tensor({lora_dropout_key(7, 1, 3)}, at::kLong);
  EXPECT_FALSE(at::equal(m[0], lora_dropout_mask(k1, layer, {1, 64, 256}, 0, 256, p, opt)[0]));
  // Rows: a sample padded to 40 rows has the first 40 rows of its 64-row mask.
  EXPECT_TRUE(at::equal(lora_dropout_mask(keys, layer, {2, 40, 256}, 0, 256, p, opt), m.narrow(1, 0, 40)));
  // A sample alone in its micro-batch draws its rows of the batched mask.
  EXPECT_TRUE(at::equal(lora_dropout_mask(keys.narrow(0, 1, 1), layer, {1, 64, 256}, 0, 256, p, opt)[0], m[1]));
  // Columns: a row-parallel slice (columns 128..191 of 256) is that slice of the full mask.
  EXPECT_TRUE(at::equal(lora_dropout_mask(keys, layer, {2, 64, 64}, 128, 256, p, opt), m.narrow(2, 128, 64)));
  // Extra middle dimensions flatten into rows.
  EXPECT_TRUE(at::equal(lora_dropout_mask(keys, layer, {2, 8, 8, 256}, 0, 256, p, opt), m.view({2, 8, 8, 256})));
}

// PEFT's formula: y = base(x) + scale * B(A(dropout(x))), dropout only inside a training scope.
TEST(LoraDropout, LayerIsPeftFormulaWithTheMaskInTrainingOnly) {
  auto lin = q_proj_lora_factory(0.25)({"x.q_proj", 6, 5, false});
  ParamList p;
  lin->collect_params(p);
  params_init_random(p, at::TensorOptions().dtype(at::kFloat), 0.3, 2);
  const at::Tensor x = at::randn({3, 4, 6});
  const at::Tensor W = *p[0].tensor, A = *p[1].tensor, B = *p[2].tensor;
  const at::Tensor plain = at::linear(x, W) + at::linear(at::linear(x, A), B) * 2.0;
  EXPECT_TRUE(at::allclose(lin->forward(x), plain, 1e-5, 1e-6)) << "no scope: no dropout (evaluation, generation)";
  const at::Tensor keys = at::tensor({11, 12, 13}, at::kLong);
  const at::Tensor mask = lora_dropout_mask(keys, lora_layer_key("x.q_proj"), x.sizes(), 0, 6, 0.25, x.options());
  ASSERT_GT((mask == 0).sum().item<int64_t>(), 0);
  const at::Tensor want = at::linear(x, W) + at::linear(at::linear(x * mask, A), B) * 2.0;
  {
    LoraDropoutScope scope(keys);
    const at::Tensor got = lin->forward(x);
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6));
    EXPECT_FALSE(at::allclose(got, plain, 1e-3, 1e-3));
    EXPECT_TRUE(at::equal(got, lin->forward(x))) << "a recompute draws the same mask";
  }
  EXPECT_TRUE(at::allclose(lin->forward(x), plain, 1e-5, 1e-6)) << "the scope's end turns dropout off";
  // An input whose rows are not the micro-batch's samples is a clear error, not a silent guess.
  LoraDropoutScope scope(at::tensor({1, 2}, at::kLong));
  EXPECT_NE(error_of([&] { lin->forward(x); }).find("one input row per sample"), std::string::npos);
}

TEST(Lora, FreshAdapterIsIdentityAndNamesFollowPeft) {
  LinearFactory factory = q_proj_lora_factory(0);
  auto lin = factory({"x.q_proj", 6, 5, false});
  ParamList p;
  lin->collect_params(p);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[1].name, "x.q_proj.lora_A.weight");
  EXPECT_EQ(p[1].shape, (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(p[2].name, "x.q_proj.lora_B.weight");
  EXPECT_EQ(p[2].shape, (std::vector<int64_t>{5, 2}));
  params_init_random(p, at::TensorOptions().dtype(at::kFloat), 0.1, 1);
  p[2].tensor->zero_();
  at::Tensor x = at::randn({3, 6});
  EXPECT_TRUE(at::allclose(lin->forward(x), at::linear(x, *p[0].tensor)));
  p[2].tensor->fill_(0.5);
  at::Tensor want = at::linear(x, *p[0].tensor) + at::linear(at::linear(x, *p[1].tensor), *p[2].tensor) * 2.0;
  EXPECT_TRUE(at::allclose(lin->forward(x), want, 1e-5, 1e-6));
  EXPECT_TRUE(is_lora_param(p[1].name));
  EXPECT_FALSE(is_lora_param(p[0].name));
  auto other = factory({"x.o_proj", 5, 6, false});
  ParamList q;
  other->collect_params(q);
  EXPECT_EQ(q.size(), 1u);
}

// Each TP rank reads only its slice of a real checkpoint directory, converted to the compute dtype.
TEST(TpCheckpoint, EachRankLoadsItsSliceFromSafetensors) {
  const Gemma3Config c = preset("tiny-vlm");
  const std::string dir = ::testing::TempDir() + "/tp_ckpt";
  std::filesystem::create_directories(dir);
  Gemma3Model dense(c);
  ParamList p = dense.params();
  params_init_random(p, at::TensorOptions().dtype(at::kBFloat16), 0.05, 9);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& q : p) named.emplace_back(q.name, *q.tensor);
  safetensors_write(dir + "/model.safetensors", named);
  for (int rank = 0; rank < 2; ++rank) {
    TpGroup tp{nullptr, rank, 2};
    Gemma3Model local(c, tp_linear_factory(c, tp));
    ParamList lp = local.params();
    hf_load_tp_local(dir, c, lp, tp, at::kFloat);
    for (size_t i = 0; i < lp.size(); ++i) {
      const at::Tensor want = tp_slice(tp_param_plan(c, lp[i].name, 2), *p[i].tensor, rank, 2).to(at::kFloat);
      ASSERT_EQ(lp[i].name, p[i].name);
      EXPECT_EQ(lp[i].tensor->scalar_type(), at::kFloat);
      EXPECT_EQ(lp[i].shape, want.sizes().vec()) << lp[i].name;
      EXPECT_TRUE(at::equal(*lp[i].tensor, want)) << lp[i].name << " rank " << rank;
    }
  }
}
