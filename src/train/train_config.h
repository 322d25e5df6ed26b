// The config keys the trainer owns (model, step_scheduler, optimizer except the learning rate,
// engine options under distributed, peft, freeze_config, checkpoint, train) and the settings read
// back from a loaded config, so no key name is spelled twice. The data loader, LR schedule and
// metrics register their own sections (register_loader_config, register_lr_schedule_config,
// register_metrics_config).
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/config_schema.h"
#include "nn/lora.h"
#include "parallel/sharded_adamw.h"
#include "parallel/sharded_engine.h"

namespace omnitune {

void register_train_config(ConfigSchema& schema);

// Every section omnitune-train reads besides core and dist: train (this file), dataloader, the
// learning-rate schedule and logging. omnitune-export re-validates a checkpoint's config with it.
void register_train_sections(ConfigSchema& schema);

struct PeftSettings {
  std::string method = "none";  // none | lora
  std::vector<std::string> include, exclude;  // glob patterns on HF module names
  bool match_all_linear = true;
  LoraOptions lora;
};

struct FreezeSettings {
  bool embeddings = false, vision_tower = true, audio_tower = true, language_model = false;
};

struct TrainSettings {
  std::string model_path;
  at::ScalarType compute_dtype = at::kBFloat16;
  std::string attention = "auto";
  int64_t global_batch_size = 8, max_steps = -1, num_epochs = 1;
  int64_t ckpt_every_steps = 0, val_every_steps = 0;
  AdamWOptions adamw;
  ShardingOptions sharding;
  PeftSettings peft;
  FreezeSettings freeze;
  std::string run_dir, checkpoint_dir;
  int keep_last = 3;
  bool verify_checkpoints = true;
  int max_bad_steps = 5;
  int64_t stop_at_step = -1;
  double peak_flops_per_rank = 0;
  std::string export_format = "none";  // none | hf | peft | merged: exported at the end
  int64_t seed = 1234;
};

TrainSettings train_settings_from(const Config& cfg);

}  // namespace omnitune
