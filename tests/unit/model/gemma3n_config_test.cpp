// Gemma 3n config.json parsing: the fixture's config (every per-layer list, the three sub-configs,
// the token ids), HF's E4B defaults for a sparse file, and clear errors for configs that cannot work.
#include <gtest/gtest.h>

#include <string>

#include "../test_util.h"
#include "core/error.h"
#include "model/gemma3n_config.h"

using namespace omnitune;

TEST(Gemma3nConfig, FixtureConfigReadsEveryField) {
  const Gemma3nConfig c = gemma3n_config_load(test_util::fixture_dir("gemma3n-tiny-ref-small"));
  const Gemma3nTextConfig& t = c.text;
  EXPECT_EQ(c.architecture, "Gemma3nForConditionalGeneration");
  EXPECT_EQ(t.num_hidden_layers, 8);
  EXPECT_EQ(t.hidden_size, 64);
  EXPECT_EQ(t.hidden_size_per_layer_input, 8);
  EXPECT_EQ(t.vocab_size, 288);
  EXPECT_EQ(t.vocab_size_per_layer_input, 256);
  EXPECT_EQ(t.intermediate_size, (std::vector<int64_t>{128, 96, 128, 96, 128, 96, 128, 96}));
  EXPECT_EQ(t.activation_sparsity, (std::vector<double>{0.95, 0.95, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(t.layer_is_sliding, (std::vector<bool>{true, true, true, false, true, true, true, false}));
  EXPECT_EQ(t.num_kv_shared_layers, 3);
  EXPECT_EQ(t.first_kv_shared_layer(), 5);
  EXPECT_EQ(t.sliding_window, 6);
  EXPECT_EQ(t.laurel_rank, 4);
  EXPECT_DOUBLE_EQ(t.final_logit_softcapping, 30.0);
  EXPECT_EQ(c.audio.hidden_size, 32);
  EXPECT_EQ(c.audio.input_feat_size, 16);
  EXPECT_EQ(c.audio.sscp_conv_channel_size, (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(c.audio.conf_attention_chunk_size, 4);
  EXPECT_EQ(c.vision.hidden_size, 2048);
  EXPECT_EQ(c.vision.msfa_output_resolution, 2);
  EXPECT_EQ(c.vision_soft_tokens_per_image, 4);
  EXPECT_EQ(c.audio_soft_tokens_per_image, 10);
  EXPECT_EQ(c.image_token_id, 257);
  EXPECT_EQ(c.audio_token_id, 273);
  EXPECT_NE(gemma3n_config_describe(c).find("8 layers (2 global, 3 KV-shared)"), std::string::npos)
      << gemma3n_config_describe(c);
}

// A config with only model_type: HF's Gemma3nTextConfig defaults, which are E4B (gemma-spec D.1).
TEST(Gemma3nConfig, SparseConfigGetsTheE4BDefaults) {
  const Gemma3nConfig c = gemma3n_config_parse(R"({"model_type": "gemma3n"})", "t");
  const Gemma3nTextConfig& t = c.text;
  EXPECT_EQ(t.num_hidden_layers, 35);
  EXPECT_EQ(t.intermediate_size, std::vector<int64_t>(35, 16384));
  ASSERT_EQ(t.activation_sparsity.size(), 35u);
  EXPECT_DOUBLE_EQ(t.activation_sparsity[9], 0.95);
  EXPECT_DOUBLE_EQ(t.activation_sparsity[10], 0.0);
  int64_t global = 0;
  for (int64_t i = 0; i < 35; ++i) global += t.layer_is_sliding[size_t(i)] ? 0 : 1;
  EXPECT_EQ(global, 7);  // layers 4, 9, ..., 34
  EXPECT_FALSE(t.layer_is_sliding[4]);
  EXPECT_EQ(t.first_kv_shared_layer(), 20);
  EXPECT_EQ(c.audio_soft_tokens_per_image, 188);
  EXPECT_EQ(c.image_token_id, 262145);
  // A scalar intermediate_size applies to every layer.
  const Gemma3nConfig e2b = gemma3n_config_parse(
      R"({"model_type": "gemma3n", "text_config": {"num_hidden_layers": 30, "intermediate_size": 8192,
          "num_kv_shared_layers": 10}})", "t");
  EXPECT_EQ(e2b.text.intermediate_size, std::vector<int64_t>(30, 8192));
}

TEST(Gemma3nConfig, ImpossibleConfigsAreErrorsNamingTheField) {
  auto err = [](const std::string& text) { return test_util::error_of([&] { gemma3n_config_parse(text, "cfg"); }); };
  EXPECT_NE(err(R"({"model_type": "gemma3"})").find("not Gemma 3n"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "text_config": {"num_hidden_layers": 4, "intermediate_size": [1, 2]}})")
                .find("intermediate_size has 2 entries but num_hidden_layers is 4"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "text_config": {"num_hidden_layers": 4, "num_kv_shared_layers": 4}})")
                .find("num_kv_shared_layers 4 must be below"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "text_config": {"num_hidden_layers": 2, "num_kv_shared_layers": 1,
                   "layer_types": ["sliding_attention", "full_attention"]}})")
                .find("no earlier layer of its type"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "text_config": {"layer_types": ["sliding_attention"]}})")
                .find("layer_types has 1 entries"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "audio_config": {"sscp_conv_channel_size": [8]}})")
                .find("same number of subsampling convolutions"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "vision_config": {"architecture": "resnet50"}})").find("resnet50"),
            std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gemma3n", "text_config": {"hidden_size": "wide"}})")
                .find("field 'hidden_size' has an unexpected type"),
            std::string::npos);
}
