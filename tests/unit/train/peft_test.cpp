// LoRA targeting and freeze rules: PEFT/NeMo glob semantics on HF names, the reference's default
// exclusions, and that every freeze flag really selects its parameters.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
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

TEST(TrainConfig, BadValuesAreClearErrors) {
  ConfigSchema schema;
  register_core_config(schema);
  register_train_config(schema);
  EXPECT_THROW(train_settings_from(Config::load(schema, "", {})), Error);  // no model.path
  EXPECT_THROW(train_settings_from(Config::load(schema, "", {"model.path=/m", "checkpoint.export=peft"})), Error);
  EXPECT_THROW(train_settings_from(Config::load(schema, "", {"model.path=/m", "optimizer.betas=[0.9]"})), Error);
}
