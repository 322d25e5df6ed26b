// Gemma 3 against the fixture reference (tests/fixtures/gemma3-tiny-ref: a tiny random-weight
// VLM and outputs of an independent implementation, confirmed against HF transformers): logits of
// the multimodal, causal-image and text-only prompts within 1e-4, every intermediate the fixture
// records, and the attention masks. The checkpoint uses hub (legacy) key names.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "model/gemma3_model.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "model_test_util.h"
#include "../test_util.h"

using namespace omnitune;
using omnitune::test_util::max_diff;

namespace {

std::string fixture_dir() {
  std::string d = omnitune::test_util::fixture_dir("gemma3-tiny-ref");
  struct stat st{};
  if (stat(d.c_str(), &st) != 0) {
    ADD_FAILURE() << "fixture not found at " << d << " (tests/fixtures is part of the repository)";
  }
  return d;
}

struct Fixture {
  Gemma3Config cfg;
  std::unique_ptr<Gemma3Model> model;
  std::unique_ptr<SafetensorsFile> ref;
  HfLoadReport report;

  Fixture() {
    const std::string dir = fixture_dir();
    cfg = gemma3_config_load(dir);
    model = std::make_unique<Gemma3Model>(cfg);
    ParamList p = model->params();
    HfLoadOptions o;
    o.dtype = at::kFloat;
    report = hf_load_checkpoint(dir, p, o);
    ref = std::make_unique<SafetensorsFile>(SafetensorsFile::open(dir + "/reference.safetensors"));
  }
  at::Tensor r(const std::string& name) const { return safetensors_read(*ref, name); }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

Gemma3Inputs mm_inputs(bool with_token_types) {
  Gemma3Inputs in;
  in.input_ids = fx().r("input_ids");
  in.pixel_values = fx().r("pixel_values");
  if (with_token_types) in.token_type_ids = fx().r("token_type_ids");
  return in;
}

}  // namespace

TEST(Gemma3Config, FixtureConfigIsReadWithItsLayerPatternAndRope) {
  const Gemma3Config& c = fx().cfg;
  EXPECT_TRUE(c.has_vision);
  EXPECT_EQ(c.text.num_hidden_layers, 4);
  EXPECT_EQ(c.text.layer_is_sliding, (std::vector<bool>{true, true, false, true}));
  EXPECT_DOUBLE_EQ(c.text.rope_global.linear_factor, 8.0);
  EXPECT_DOUBLE_EQ(c.text.rope_local.theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.text.attn_scale(), 1.0 / std::sqrt(24.0));
  EXPECT_EQ(c.mm_tokens_per_image, 4);
  EXPECT_EQ(c.image_token_id, 512);
  EXPECT_EQ(fx().report.key_style, "hub (legacy)");
}

TEST(Gemma3Config, SparseHubConfigTakesHfDefaults) {
  // The 4B hub config lists only a few text fields; the rest are Gemma3TextConfig defaults.
  Gemma3Config c = gemma3_config_parse(R"({"architectures":["Gemma3ForConditionalGeneration"],
    "model_type":"gemma3","text_config":{"hidden_size":2560,"intermediate_size":10240,
    "model_type":"gemma3_text","num_hidden_layers":34,"rope_scaling":{"factor":8.0,"rope_type":"linear"},
    "sliding_window":1024},"vision_config":{"hidden_size":1152,"image_size":896,"intermediate_size":4304,
    "model_type":"siglip_vision_model","num_attention_heads":16,"num_hidden_layers":27,"patch_size":14,
    "vision_use_head":false},"eos_token_id":[1,106],"mm_tokens_per_image":256})", "4b-config");
  EXPECT_EQ(c.text.vocab_size, 262208);
  EXPECT_EQ(c.text.num_attention_heads, 8);
  EXPECT_EQ(c.text.num_key_value_heads, 4);
  EXPECT_EQ(c.text.head_dim, 256);
  EXPECT_DOUBLE_EQ(c.text.rope_global.theta, 1e6);
  EXPECT_DOUBLE_EQ(c.text.rope_global.linear_factor, 8.0);
  EXPECT_DOUBLE_EQ(c.text.rope_local.linear_factor, 1.0);
  int globals = 0;
  for (int i = 0; i < 34; ++i) globals += c.text.layer_is_sliding[i] ? 0 : 1;
  EXPECT_EQ(globals, 5);
  EXPECT_FALSE(c.text.layer_is_sliding[5]);
  EXPECT_EQ(c.image_token_id, 262144);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 106}));
  EXPECT_EQ(c.vision.num_patches(), 4096);
}

TEST(Gemma3Config, NewerRopeParametersAndLayerTypesAreAccepted) {
  Gemma3Config c = gemma3_config_parse(R"({"model_type":"gemma3_text","num_hidden_layers":3,
    "layer_types":["full_attention","sliding_attention","full_attention"],
    "rope_parameters":{"full_attention":{"rope_type":"linear","factor":4.0,"rope_theta":500000.0},
                       "sliding_attention":{"rope_type":"default","rope_theta":20000.0}}})", "new");
  EXPECT_EQ(c.architecture, "Gemma3ForCausalLM");
  EXPECT_EQ(c.text.layer_is_sliding, (std::vector<bool>{false, true, false}));
  EXPECT_DOUBLE_EQ(c.text.rope_global.theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.text.rope_global.linear_factor, 4.0);
  EXPECT_DOUBLE_EQ(c.text.rope_local.theta, 20000.0);
  EXPECT_THROW(gemma3_config_parse(R"({"model_type":"llama"})", "x"), Error);
  EXPECT_THROW(gemma3_config_parse(R"({"model_type":"gemma3_text","num_hidden_layers":2,
    "layer_types":["full_attention"]})", "x"), Error);
}

TEST(Gemma3Parity, MultimodalLogitsMatchReference) {
  at::NoGradGuard ng;
  at::Tensor logits = fx().model->forward_logits(mm_inputs(true));
  EXPECT_LT(max_diff(logits, fx().r("logits")), 1e-4);
}

TEST(Gemma3Parity, CausalImageLogitsWithoutTokenTypesMatchReference) {
  at::NoGradGuard ng;
  at::Tensor logits = fx().model->forward_logits(mm_inputs(false));
  EXPECT_LT(max_diff(logits, fx().r("logits_causal_image")), 1e-4);
  // And they differ from the bidirectional ones: the overlay really changes something.
  EXPECT_GT(max_diff(logits, fx().r("logits")), 1e-3);
}

TEST(Gemma3Parity, TextOnlyLogitsMatchReference) {
  at::NoGradGuard ng;
  Gemma3Inputs in;
  in.input_ids = fx().r("text_input_ids");
  at::Tensor hidden = fx().model->forward_hidden(in);
  EXPECT_LT(max_diff(hidden, fx().r("text_last_hidden_state")), 1e-4);
  EXPECT_LT(max_diff(fx().model->text().logits(hidden), fx().r("text_logits")), 1e-4);
}

TEST(Gemma3Parity, IntermediatesMatchReference) {
  at::NoGradGuard ng;
  Gemma3Inputs in = mm_inputs(true);
  EXPECT_LT(max_diff(fx().model->vision()->forward(in.pixel_values, AttentionImpl::Reference),
                     fx().r("vision_last_hidden_state")), 1e-4);
  EXPECT_LT(max_diff(fx().model->image_features(in.pixel_values), fx().r("image_features")), 1e-4);
  std::vector<at::Tensor> layers;
  at::Tensor embeds;
  at::Tensor hidden = fx().model->forward_hidden(in, nullptr, &layers, &embeds);
  EXPECT_LT(max_diff(embeds, fx().r("inputs_embeds")), 1e-5);
  ASSERT_EQ(layers.size(), 4u);
  for (size_t i = 0; i < layers.size(); ++i)
    EXPECT_LT(max_diff(layers[i], fx().r("layer_output." + std::to_string(i))), 1e-4) << "layer " << i;
  EXPECT_LT(max_diff(hidden, fx().r("last_hidden_state")), 1e-4);
}

TEST(Gemma3Parity, AttentionMasksMatchReference) {
  at::Tensor ids = fx().r("input_ids");
  at::Tensor group = image_groups(fx().r("token_type_ids") == 1);
  at::Tensor idx = at::arange(ids.size(1)).unsqueeze(0);
  at::Tensor valid = at::ones_like(idx, at::kBool);
  at::Tensor full = attention_allowed(idx, idx, valid, group, group, 0)[0][0];
  at::Tensor sliding = attention_allowed(idx, idx, valid, group, group, fx().cfg.text.sliding_window)[0][0];
  EXPECT_TRUE(full.equal(fx().r("attention_allowed_full").to(at::kBool)));
  EXPECT_TRUE(sliding.equal(fx().r("attention_allowed_sliding").to(at::kBool)));
}

TEST(Gemma3Parity, EveryAttentionImplementationAgreesWithTheReferencePath) {
  at::NoGradGuard ng;
  Gemma3Model& m = *fx().model;
  m.attention_impl = AttentionImpl::Reference;
  at::Tensor want = m.forward_logits(mm_inputs(true));
  std::vector<AttentionImpl> impls{AttentionImpl::Chunked, AttentionImpl::Auto};
  if (attention_has_sdpa()) impls.push_back(AttentionImpl::Sdpa);
  for (AttentionImpl impl : impls) {
    m.attention_impl = impl;
    EXPECT_LT(max_diff(m.forward_logits(mm_inputs(true)), want), 1e-5) << attention_impl_name(impl);
  }
  m.attention_impl = AttentionImpl::Auto;
}
