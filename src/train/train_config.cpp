#include "train/train_config.h"

#include "core/error.h"
#include "data/loader_config.h"
#include "dist/dist_config.h"
#include "train/lr_schedule.h"
#include "train/metrics.h"

namespace omnitune {

void register_train_config(ConfigSchema& s) {
  // Training's alone: preprocessing draws nothing at random and generation has generate.seed.
  s.add({"seed", ConfigType::Int, "1234",
         "one seed that drives every random choice (data order, LoRA init, LoRA dropout masks)", {}});
  s.add({"model.path", ConfigType::String, "''",
         "Hugging Face model directory (config.json, *.safetensors, tokenizer.model)", {}});
  s.add({"model.dtype", ConfigType::String, "bfloat16",
         "compute dtype of the gathered weights and activations (master weights, gradients and the "
         "optimizer are always fp32)", {"bfloat16", "float32"}});
  s.add({"model.attention", ConfigType::String, "auto",
         "attention kernel; auto = sdpa where this LibTorch has it, else chunked (the model's log line names it)",
         {"auto", "reference", "chunked", "sdpa"}});
  s.add({"step_scheduler.global_batch_size", ConfigType::Int, "8",
         "samples per optimizer step over all ranks = micro_batch_size x DP x gradient accumulation", {}});
  s.add({"step_scheduler.max_steps", ConfigType::Int, "-1",
         "optimizer steps to run; -1 = num_epochs worth of steps", {}});
  s.add({"step_scheduler.num_epochs", ConfigType::Int, "1", "epochs when max_steps is -1", {}});
  s.add({"step_scheduler.ckpt_every_steps", ConfigType::Int, "0",
         "checkpoint every N steps (0 = only at the end and on SIGUSR1/SIGTERM)", {}});
  s.add({"step_scheduler.val_every_steps", ConfigType::Int, "0",
         "validation loss every N steps on dataset.val_shards_dir (0 = only at the end)", {}});
  s.add({"optimizer.betas", ConfigType::FloatList, "[0.9, 0.999]", "AdamW betas", {}});
  s.add({"optimizer.eps", ConfigType::Float, "1e-8", "AdamW epsilon", {}});
  s.add({"optimizer.weight_decay", ConfigType::Float, "0.0",
         "decoupled weight decay on matrices (never on norms, biases or embeddings)", {}});
  s.add({"optimizer.max_grad_norm", ConfigType::Float, "1.0", "global gradient-norm clipping; <= 0: off", {}});
  s.add({"distributed.activation_checkpointing", ConfigType::Bool, "true",
         "keep only each decoder block's input and recompute it in backward", {}});
  s.add({"distributed.reshard_after_forward", ConfigType::Bool, "true",
         "with activation checkpointing: free each decoder block's gathered weights after its forward and "
         "gather them again for backward (without checkpointing the saved graphs keep them gathered)", {}});
  s.add({"distributed.prefetch", ConfigType::Bool, "true",
         "all-gather the next unit on the communication thread while the current one computes", {}});
  s.add({"distributed.loss_chunk_tokens", ConfigType::Int, "1024",
         "loss tokens per LM-head chunk (memory of the vocab-parallel logits)", {}});
  s.add({"peft.method", ConfigType::String, "none", "parameter-efficient fine-tuning: none = SFT",
         {"none", "lora"}});
  s.add({"peft.include", ConfigType::StringList, "[]",
         "glob patterns of HF module names that get LoRA (with match_all_linear false)", {}});
  s.add({"peft.exclude", ConfigType::StringList, "['*vision_tower*', '*audio_tower*', '*lm_head*']",
         "glob patterns of module names never adapted", {}});
  s.add({"peft.match_all_linear", ConfigType::Bool, "true",
         "adapt every linear layer of the language model not excluded", {}});
  s.add({"peft.dim", ConfigType::Int, "8", "LoRA rank", {}});
  s.add({"peft.alpha", ConfigType::Float, "32", "LoRA alpha (scale = alpha / dim)", {}});
  s.add({"peft.dropout", ConfigType::Float, "0.0",
         "dropout on the LoRA input in training steps (PEFT's; per-sample masks, equal on any mesh and on resume)", {}});
  s.add({"freeze_config.freeze_embeddings", ConfigType::Bool, "false",
         "freeze the token embeddings (= the tied LM head)", {}});
  s.add({"freeze_config.freeze_vision_tower", ConfigType::Bool, "true",
         "freeze the SigLIP vision tower (the projector still trains under SFT)", {}});
  s.add({"freeze_config.freeze_audio_tower", ConfigType::Bool, "true", "freeze the audio tower (Gemma 3n)", {}});
  s.add({"freeze_config.freeze_language_model", ConfigType::Bool, "false",
         "freeze the decoder blocks and final norm", {}});
  s.add({"checkpoint.dir", ConfigType::String, "''", "checkpoint root; '' = <train.run_dir>/checkpoints", {}});
  s.add({"checkpoint.keep_last", ConfigType::Int, "3", "checkpoints kept (older ones are deleted); 0 = all", {}});
  s.add({"checkpoint.verify", ConfigType::Bool, "true", "check every file's SHA-256 before resuming", {}});
  s.add({"checkpoint.export", ConfigType::String, "none",
         "export at the end of training: hf (full weights), peft (LoRA adapter), merged (LoRA merged "
         "into full weights)", {"none", "hf", "peft", "merged"}});
  s.add({"resume", ConfigType::String, "''",
         "resume: auto (the latest checkpoint of this run, if any), a checkpoint path, or '' (fresh start)", {}});
  s.add({"train.run_dir", ConfigType::String, "runs/train",
         "run directory: resolved config, metrics.jsonl, TensorBoard events, checkpoints", {}});
  s.add({"train.stop_at_step", ConfigType::Int, "-1",
         "checkpoint and exit after this step, as on SIGUSR1 (split a run into jobs; tests of resume); -1 = off", {}});
  s.add({"train.peak_flops_per_rank", ConfigType::Float, "0",
         "FLOP/s one rank can reach, for the logged MFU; 0 = measure a matmul at start (CPU) or use the "
         "bf16 dense peak of an H100 (989e12) on CUDA", {}});
  s.add({"train.max_bad_steps", ConfigType::Int, "5",
         "consecutive steps with a non-finite loss or gradient (skipped) before the run aborts", {}});
}

TrainSettings train_settings_from(const Config& c) {
  TrainSettings t;
  t.model_path = c.get_string("model.path");
  t.compute_dtype = c.get_string("model.dtype") == "float32" ? at::kFloat : at::kBFloat16;
  t.attention = c.get_string("model.attention");
  t.global_batch_size = c.get_int("step_scheduler.global_batch_size");
  t.max_steps = c.get_int("step_scheduler.max_steps");
  t.num_epochs = c.get_int("step_scheduler.num_epochs");
  t.ckpt_every_steps = c.get_int("step_scheduler.ckpt_every_steps");
  t.val_every_steps = c.get_int("step_scheduler.val_every_steps");
  const auto betas = c.get_float_list("optimizer.betas");
  OT_REQUIRE(betas.size() == 2, "optimizer.betas must have two values, got ", betas.size());
  t.adamw.beta1 = betas[0];
  t.adamw.beta2 = betas[1];
  t.adamw.eps = c.get_float("optimizer.eps");
  t.adamw.weight_decay = c.get_float("optimizer.weight_decay");
  t.adamw.max_grad_norm = c.get_float("optimizer.max_grad_norm");
  t.sharding.compute_dtype = t.compute_dtype;
  t.sharding.activation_checkpointing = c.get_bool("distributed.activation_checkpointing");
  t.sharding.reshard_after_forward = c.get_bool("distributed.reshard_after_forward");
  t.sharding.prefetch = c.get_bool("distributed.prefetch");
  t.sharding.loss_chunk_tokens = c.get_int("distributed.loss_chunk_tokens");
  t.peft.method = c.get_string("peft.method");
  t.peft.include = c.get_string_list("peft.include");
  t.peft.exclude = c.get_string_list("peft.exclude");
  t.peft.match_all_linear = c.get_bool("peft.match_all_linear");
  t.peft.lora.rank = c.get_int("peft.dim");
  t.peft.lora.alpha = c.get_float("peft.alpha");
  t.peft.lora.dropout = c.get_float("peft.dropout");
  t.freeze.embeddings = c.get_bool("freeze_config.freeze_embeddings");
  t.freeze.vision_tower = c.get_bool("freeze_config.freeze_vision_tower");
  t.freeze.audio_tower = c.get_bool("freeze_config.freeze_audio_tower");
  t.freeze.language_model = c.get_bool("freeze_config.freeze_language_model");
  t.run_dir = c.get_string("train.run_dir");
  t.checkpoint_dir = c.get_string("checkpoint.dir");
  if (t.checkpoint_dir.empty()) t.checkpoint_dir = t.run_dir + "/checkpoints";
  t.keep_last = static_cast<int>(c.get_int("checkpoint.keep_last"));
  t.verify_checkpoints = c.get_bool("checkpoint.verify");
  t.export_format = c.get_string("checkpoint.export");
  t.max_bad_steps = static_cast<int>(c.get_int("train.max_bad_steps"));
  t.stop_at_step = c.get_int("train.stop_at_step");
  t.peak_flops_per_rank = c.get_float("train.peak_flops_per_rank");
  t.seed = c.get_int("seed");
  OT_REQUIRE(!t.model_path.empty(), "model.path is not set: point it at a Hugging Face model directory");
  OT_REQUIRE(t.global_batch_size > 0, "step_scheduler.global_batch_size must be positive");
  OT_REQUIRE(t.peft.lora.rank > 0, "peft.dim must be positive");
  OT_REQUIRE(t.peft.lora.dropout >= 0 && t.peft.lora.dropout < 1, "peft.dropout must be in [0, 1)");
  if (t.peft.method == "none" && (t.export_format == "peft" || t.export_format == "merged"))
    OT_FAIL("checkpoint.export=", t.export_format, " needs peft.method=lora (SFT exports with hf)");
  return t;
}

void register_train_sections(ConfigSchema& s) {
  register_mesh_config(s);
  register_train_config(s);
  register_loader_config(s);
  register_lr_schedule_config(s);
  register_metrics_config(s);
}

}  // namespace omnitune
