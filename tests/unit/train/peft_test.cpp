// LoRA targeting and freeze rules: PEFT/NeMo glob semantics on HF names, the reference's default
// exclusions, and that every freeze flag really selects its parameters.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "dist/dist_config.h"
#include "train/peft.h"
#include "train/train_config.h"

using namespace omnitune;

TEST(Peft, GlobMatch) {
  EXPECT_TRUE(glob_match("*.q_proj", "model.language_model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(glob_match("*vision_tower*", "model.vision_tower.vision_model.encoder.layers.1.mlp.fc1"));
  EXPECT_TRUE(glob_match("model.*.layers.?.mlp.*", "model.language_model.layers.3.mlp.up_proj"));
  EXPECT_FALSE(glob_match("model.*.layers.?.mlp.*", "model.language_model.layers.13.mlp.up_proj"));
  EXPECT_FALSE(glob_match("*.q_proj", "model.language_model.layers.0.self_attn.q_proj.lora_A"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("a*b", "acd"));
}

TEST(Peft, DefaultsFollowTheReference) {
  ConfigSchema schema;
  register_core_config(schema);
  register_train_config(schema);
  Config c = Config::load(schema, "", {"model.path=/m", "peft.method=lora"});
  TrainSettings t = train_settings_from(c);
  EXPECT_EQ(t.peft.lora.rank, 8);
  EXPECT_DOUBLE_EQ(t.peft.lora.alpha, 32);
  auto target = lora_target_rule(t.peft);
  EXPECT_TRUE(target("model.language_model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(target("model.language_model.layers.5.mlp.down_proj"));
  EXPECT_FALSE(target("model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj"));
  auto trainable = trainable_param_rule(t);
  EXPECT_TRUE(trainable("model.language_model.layers.0.self_attn.q_proj.lora_A.weight"));
  EXPECT_FALSE(trainable("model.language_model.layers.0.self_attn.q_proj.weight"));
  EXPECT_FALSE(trainable("model.language_model.embed_tokens.weight"));

  Config only = Config::load(schema, "", {"model.path=/m", "peft.method=lora", "peft.match_all_linear=false",
                                           "peft.include=['*.q_proj', '*.v_proj']"});
  auto t2 = lora_target_rule(train_settings_from(only).peft);
  EXPECT_TRUE(t2("model.language_model.layers.0.self_attn.v_proj"));
  EXPECT_FALSE(t2("model.language_model.layers.0.self_attn.k_proj"));
}

TEST(Peft, FreezeFlagsSelectTheirParameters) {
  ConfigSchema schema;
  register_core_config(schema);
  register_train_config(schema);
  const std::string emb = "model.language_model.embed_tokens.weight",
                    vis = "model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
                    proj = "model.multi_modal_projector.mm_input_projection_weight",
                    blk = "model.language_model.layers.0.mlp.up_proj.weight", fin = "model.language_model.norm.weight";
  auto rule = [&](std::vector<std::string> o) {
    o.push_back("model.path=/m");
    return trainable_param_rule(train_settings_from(Config::load(schema, "", o)));
  };
  auto sft = rule({});
  EXPECT_TRUE(sft(emb) && !sft(vis) && sft(proj) && sft(blk) && sft(fin));  // vision tower frozen by default
  auto all = rule({"freeze_config.freeze_vision_tower=false"});
  EXPECT_TRUE(all(vis));
  auto no_emb = rule({"freeze_config.freeze_embeddings=true"});
  EXPECT_FALSE(no_emb(emb));
  EXPECT_TRUE(no_emb(blk));
  auto no_lm = rule({"freeze_config.freeze_language_model=true"});
  EXPECT_FALSE(no_lm(blk) || no_lm(fin));
  EXPECT_TRUE(no_lm(emb) && no_lm(proj));
}

// Gemma 3n names (HF google/gemma-3n-E4B-it) under the shipped recipes: the towers frozen or
// trained by their flags, both embedders training like Gemma 3's projector, the per-layer
// embedding table (embed_tokens_per_layer) following freeze_embeddings like embed_tokens, AltUp / Laurel / PLE
// projections following freeze_language_model; LoRA adapters on the decoder's linear layers only
// (the reference's exclusions keep them off the towers, both embedders and the head).
TEST(Peft, Gemma3nNamesFollowTheRecipes) {
  ConfigSchema schema;  // every key omnitune-train knows: the recipes set them all
  register_core_config(schema);
  register_dist_config(schema);
  register_train_sections(schema);
  const std::string configs = std::string(OMNITUNE_SOURCE_DIR) + "/configs/";
  const std::string lm = "model.language_model.";
  const std::string q = lm + "layers.0.self_attn.q_proj", laurel = lm + "layers.3.laurel.linear_left",
                    altup = lm + "layers.1.altup.prediction_coefs", ple_gate = lm + "layers.2.per_layer_input_gate",
                    ple_table = lm + "embed_tokens_per_layer", ple_proj = lm + "per_layer_model_projection",
                    altup_proj = lm + "altup_projections.0", audio_q = "model.audio_tower.conformer.0.attention.attn.q_proj",
                    audio_sub = "model.audio_tower.subsample_conv_projection.input_proj_linear",
                    vision = "model.vision_tower.timm_model.blocks.0.0.conv_exp",
                    embed_audio = "model.embed_audio.embedding_projection", embed_vision = "model.embed_vision.embedding_projection",
                    embed_audio_hard = "model.embed_audio.embedding", head = "lm_head";

  auto sft_with = [&](std::vector<std::string> o) {
    return trainable_param_rule(train_settings_from(Config::load(schema, configs + "gemma3n_e4b_medpix_sft.yaml", o)));
  };
  auto sft = sft_with({});
  for (const std::string& p : {q, laurel, altup, ple_gate, ple_proj, altup_proj})
    EXPECT_TRUE(sft(p + ".weight")) << p;
  // The recipe freezes the embeddings, as the reference does: both tables.
  EXPECT_FALSE(sft(lm + "embed_tokens.weight") || sft(ple_table + ".weight"));
  EXPECT_FALSE(sft(audio_q + ".weight"));   // the recipe freezes both towers
  EXPECT_FALSE(sft(vision + ".weight"));
  for (const std::string& p : {embed_audio, embed_vision, embed_audio_hard}) EXPECT_TRUE(sft(p + ".weight")) << p;

  auto towers = sft_with({"freeze_config.freeze_audio_tower=false", "freeze_config.freeze_vision_tower=false"});
  EXPECT_TRUE(towers(audio_q + ".weight") && towers(audio_sub + ".weight") && towers(vision + ".weight"));
  auto emb = sft_with({"freeze_config.freeze_embeddings=false"});
  EXPECT_TRUE(emb(lm + "embed_tokens.weight") && emb(ple_table + ".weight"));
  EXPECT_TRUE(sft(embed_audio + ".weight") && sft(ple_proj + ".weight"));  // not embeddings tables
  auto no_lm = sft_with({"freeze_config.freeze_language_model=true"});
  for (const std::string& p : {q, laurel, altup, ple_gate, ple_proj, altup_proj})
    EXPECT_FALSE(no_lm(p + ".weight")) << p;
  EXPECT_TRUE(no_lm(embed_vision + ".weight"));

  const TrainSettings lora = train_settings_from(Config::load(schema, configs + "gemma3n_e4b_medpix_lora.yaml", {}));
  auto target = lora_target_rule(lora.peft);
  for (const std::string& m : {q, laurel, lm + "layers.7.mlp.down_proj", ple_gate, ple_proj, altup_proj})
    EXPECT_TRUE(target(m)) << m;
  for (const std::string& m : {audio_q, audio_sub, vision, embed_audio, embed_vision, head})
    EXPECT_FALSE(target(m)) << m;
  auto trainable = trainable_param_rule(lora);
  EXPECT_TRUE(trainable(q + ".lora_A.weight"));
  EXPECT_FALSE(trainable(q + ".weight") || trainable(embed_audio + ".weight"));
}

TEST(TrainConfig, BadValuesAreClearErrors) {
  ConfigSchema schema;
  register_core_config(schema);
  register_train_config(schema);
  EXPECT_THROW(train_settings_from(Config::load(schema, "", {})), Error);  // no model.path
  EXPECT_THROW(train_settings_from(Config::load(schema, "", {"model.path=/m", "checkpoint.export=peft"})), Error);
  EXPECT_THROW(train_settings_from(Config::load(schema, "", {"model.path=/m", "optimizer.betas=[0.9]"})), Error);
}
