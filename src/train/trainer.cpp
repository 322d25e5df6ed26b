// One optimizer step = the rank's grad-accumulation micro-batches of one global batch. The loss
// denominator is the number of loss tokens in the whole global batch (all-reduced over DP before
// the first micro-batch), so the gradient is independent of how the batch was split.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "data/loader.h"
#include "data/loader_config.h"
#include "dist/stop_signal.h"
#include "nn/lora.h"
#include "parallel/sharded_adamw.h"
#include "train/checkpoint.h"
#include "train/export.h"
#include "train/flops.h"
#include "train/lr_schedule.h"
#include "train/metrics.h"
#include "train/train_config.h"
#include "train/train_model.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// With `dropout`: per-sample LoRA dropout keys from (seed, epoch, dataset index), so a sample's
// masks do not depend on the rank, the mesh or a resume (nn/lora.h).
MicroBatch to_micro_batch(const TrainBatch& b, const at::Device& device, bool dropout = false, uint64_t seed = 0) {
  MicroBatch m;
  // The loader assembles batches on the host; the engine computes where its shards live.
  auto on = [&](const at::Tensor& t) { return t.defined() ? t.to(device) : t; };
  m.inputs.input_ids = on(b.input_ids);
  m.inputs.attention_mask = on(b.attention_mask);
  m.inputs.token_type_ids = on(b.token_type_ids);
  m.inputs.pixel_values = on(b.pixel_values);
  m.audio_features = on(b.audio_features);
  m.audio_pad = on(b.audio_pad);
  m.targets = on(b.targets);
  if (dropout) {
    std::vector<int64_t> keys;
    for (int64_t i : b.sample_indices) keys.push_back(lora_dropout_key(seed, b.epoch, i));
    m.dropout_keys = on(at::tensor(keys, at::kLong));
  }
  return m;
}

int64_t all_reduce_sum(Comm& c, int64_t v) {
  at::Tensor t = at::full({1}, v, at::kLong);
  c.all_reduce(t, ReduceOp::Sum);
  return t.item<int64_t>();
}

double all_reduce_sum(Comm& c, double v) {
  at::Tensor t = at::full({1}, v, at::kDouble);
  c.all_reduce(t, ReduceOp::Sum);
  return t.item<double>();
}

// Validation loss over one pass of the validation split (every DP rank its share).
double validation_loss(ShardedEngine& engine, DataLoader& val, Comm& dp) {
  val.seek(LoaderPosition{0, 0});
  double loss = 0;
  int64_t tokens = 0;
  for (int64_t s = 0; s < val.steps_per_epoch(); ++s)
    for (const TrainBatch& b : val.next_step()) {
      auto r = engine.forward_loss(to_micro_batch(b, engine.device()));
      loss += r.loss_sum;
      tokens += r.tokens;
    }
  loss = all_reduce_sum(dp, loss);
  tokens = all_reduce_sum(dp, tokens);
  return tokens > 0 ? loss / static_cast<double>(tokens) : 0.0;
}

}  // namespace

TrainOutcome run_training(const Config& cfg, Comm& world, DeviceMesh& mesh, const at::Device& device,
                          const std::string& resume) {
  const TrainSettings t = train_settings_from(cfg);
  const bool root = world.rank() == 0;
  Comm& dp = mesh.dp();
  const int dp_size = mesh.shape().dp;

  // ---- data (its errors come before the model is loaded: they are the cheap ones to fix)
  const std::string tokenizer = t.model_path + "/tokenizer.model";
  const std::string tokenizer_sha = fs::exists(tokenizer) ? sha256_file(tokenizer) : "";
  if (tokenizer_sha.empty() && root)
    OT_LOG_WARN(tokenizer, " not found: the shards' tokenizer cannot be checked against the model's");
  const LoaderOptions lo = loader_options_from_config(cfg);
  const uint64_t data_seed = static_cast<uint64_t>(lo.seed >= 0 ? lo.seed : t.seed);
  const std::string shards = cfg.get_string("dataset.shards_dir");
  OT_REQUIRE(!shards.empty(), "dataset.shards_dir is not set: point it at an omnitune-preprocess output split");
  auto train_data = std::make_shared<ShardDataset>(shards, tokenizer_sha);
  DataLoader loader(train_data, lo, t.global_batch_size, mesh.dp_rank(), dp_size, data_seed, 0);
  std::unique_ptr<DataLoader> val;
  const std::string val_dir = cfg.get_string("dataset.val_shards_dir");
  if (!val_dir.empty()) {
    LoaderOptions vo = lo;
    vo.shuffle = false;
    val = std::make_unique<DataLoader>(std::make_shared<ShardDataset>(val_dir, tokenizer_sha), vo,
                                       lo.micro_batch_size * dp_size, mesh.dp_rank(), dp_size, data_seed, 0);
  }
  const int64_t total_steps = t.max_steps > 0 ? t.max_steps : t.num_epochs * loader.steps_per_epoch();
  OT_REQUIRE(total_steps > 0, "nothing to train: step_scheduler.max_steps and num_epochs give 0 steps");

  // ---- model, optimizer, schedule
  at::manual_seed(static_cast<uint64_t>(t.seed) + world.rank());
  TrainModel tm = build_train_model(t, mesh, device);
  ShardedEngine& engine = *tm.engine;
  std::vector<FlatGroup*> groups;
  std::vector<std::string> group_units;  // the unit of each optimizer group
  for (auto& u : engine.units())
    if (u->trainable()) {
      groups.push_back(u->trainable());
      group_units.push_back(u->name());
    }
  const int64_t unit_grad_norm_steps = cfg.get_int("logging.unit_grad_norm_steps");
  ShardedAdamW opt(groups, engine.comms(), t.adamw);
  const LrScheduleOptions lr = lr_schedule_from_config(cfg, total_steps);
  if (root) {
    OT_LOG_INFO("model ", t.model_path, ": ", tm.description);
    OT_LOG_INFO("parameters: ", tm.trainable_params, " trainable, ", tm.frozen_params, " frozen (",
                t.peft.method == "lora" ? "LoRA" : "SFT", "); mesh ", mesh.describe());
    OT_LOG_INFO("per-rank shard memory ", engine.persistent_bytes() / 1e6, " MB; ", total_steps, " steps of ",
                t.global_batch_size, " samples (", loader.steps_per_epoch(), " steps per epoch)");
  }

  // ---- resume or fresh start
  TrainerState st;
  st.config_yaml = cfg.to_yaml();
  std::string ck;
  if (resume.empty()) {
    OT_REQUIRE(checkpoint_resolve(t.checkpoint_dir, "auto").empty(), t.checkpoint_dir,
               " already holds checkpoints: pass --resume auto to continue that run, or set train.run_dir "
               "(or checkpoint.dir) to a new directory");
  } else {
    ck = checkpoint_resolve(t.checkpoint_dir, resume);
  }
  if (!ck.empty()) {
    const std::string cfg_yaml = st.config_yaml;
    st = checkpoint_load(ck, engine, opt, world, t.verify_checkpoints);
    st.config_yaml = cfg_yaml;
    loader.seek(LoaderPosition{st.epoch, st.consumed});
    if (root) OT_LOG_INFO("resumed from ", ck, " at step ", st.step, " (epoch ", st.epoch, ", sample ", st.consumed, ")");
  } else if (resume == "auto" && root) {
    OT_LOG_INFO("--resume auto: no checkpoint under ", t.checkpoint_dir, ", starting fresh");
  }
  if (root) {
    fs::create_directories(t.run_dir);
    std::ofstream(t.run_dir + "/config.yaml") << st.config_yaml;
  }
  // MFU denominator: a configured peak, or this rank's measured matmul rate (CPU).
  double peak = t.peak_flops_per_rank;
  if (peak <= 0) {
    peak = engine.device().is_cuda() ? 989e12 : measure_matmul_flops(t.compute_dtype);
    peak = all_reduce_sum(world, peak) / world.size();
  }
  const bool vision_trained = [&] {
    for (auto& u : engine.units())
      if (u->name() == "vision" && u->has_trainable()) return true;
    return false;
  }();
  if (root) OT_LOG_INFO("MFU is reported against ", peak / 1e9, " GFLOP/s per rank");
  MetricsLogger metrics(t.run_dir, cfg, root);
  metrics.resume_from_step(st.step);
  ProgressLine progress(total_steps);

  stop_signal_install();
  TrainOutcome out;
  auto save = [&] {
    out.last_checkpoint = checkpoint_save(t.checkpoint_dir, st, engine, opt, world, t.keep_last);
  };
  const int64_t log_every = std::max<int64_t>(1, cfg.get_int("logging.log_every_steps"));
  const bool lora_dropout = t.peft.method == "lora" && t.peft.lora.dropout > 0;
  while (st.step < total_steps) {
    const double t0 = now_s();
    std::vector<TrainBatch> micro = loader.next_step();
    int64_t tokens = 0, inputs = 0, rows = 0, images = 0;
    double pairs_global = 0, pairs_sliding = 0;  // attention work of this rank's sequences (MFU)
    for (const auto& b : micro) {
      tokens += b.num_loss_tokens;
      inputs += b.attention_mask.sum().item<int64_t>();
      rows += b.attention_mask.numel();
      images += b.pixel_values.defined() ? b.pixel_values.size(0) : 0;
      const at::Tensor lengths = b.attention_mask.sum(1).to(at::kLong).contiguous();
      for (int64_t i = 0; i < lengths.size(0); ++i) {
        const int64_t n = lengths.data_ptr<int64_t>()[i];
        pairs_global += causal_attention_pairs(n, 0);
        pairs_sliding += causal_attention_pairs(n, tm.sliding_window);
      }
    }
    tokens = all_reduce_sum(dp, tokens);
    inputs = all_reduce_sum(dp, inputs);
    rows = all_reduce_sum(dp, rows);
    images = all_reduce_sum(dp, images);
    pairs_global = all_reduce_sum(dp, pairs_global);
    pairs_sliding = all_reduce_sum(dp, pairs_sliding);
    double loss_sum = 0;
    engine.take_counters();  // from here on: this step's schedule only (not the last validation)
    if (tokens > 0)
      for (const auto& b : micro)
        loss_sum += engine.forward_backward(to_micro_batch(b, engine.device(), lora_dropout, uint64_t(t.seed)), double(tokens))
                        .loss_sum;
    engine.synchronize();
    const ShardedEngine::Counters sched = engine.take_counters();
    const double loss = tokens > 0 ? all_reduce_sum(dp, loss_sum) / double(tokens) : 0.0;
    const double lr_now = lr_at(lr, st.step);
    // Early steps: each unit's share of the gradient (large early gradients show where they start).
    const std::vector<double> unit_norms = st.step < unit_grad_norm_steps ? opt.group_grad_norms() : std::vector<double>{};
    StepReport rep = opt.step(lr_now);
    const bool ok = tokens > 0 && std::isfinite(loss) && rep.finite;
    st.bad_steps_in_a_row = ok ? 0 : st.bad_steps_in_a_row + 1;
    if (!ok && root)
      OT_LOG_WARN("step ", st.step + 1, ": ", tokens == 0 ? "no loss tokens in the global batch" : "non-finite loss or gradient",
                  " (loss ", loss, ", grad norm ", rep.grad_norm, "): update skipped (", st.bad_steps_in_a_row,
                  " in a row, limit train.max_bad_steps=", t.max_bad_steps, ")");
    OT_REQUIRE(st.bad_steps_in_a_row <= t.max_bad_steps, "aborting: ", st.bad_steps_in_a_row,
               " consecutive steps had a non-finite loss or gradient (lower optimizer.lr, check the data)");
    ++st.step;
    const LoaderPosition pos = loader.position();
    st.epoch = pos.epoch;
    st.consumed = pos.consumed;
    const double dt = now_s() - t0;
    StepMetrics m;
    m.step = st.step;
    m.epoch = st.epoch;
    m.values = {{"loss", loss},
                {"lr", lr_now},
                {"grad_norm", rep.grad_norm},
                {"tokens_per_s", double(inputs) / dt},
                {"samples_per_s", double(t.global_batch_size) / dt},
                {"step_time_s", dt},
                {"loss_tokens", double(tokens)},
                // Padding shows as row_tokens - input_tokens (all ranks); the schedule counts
                // are this rank's (rank 0 writes them).
                {"input_tokens", double(inputs)},
                {"row_tokens", double(rows)},
                {"gathers", double(sched.gathers)},
                {"recomputed_blocks", double(sched.recomputed_blocks)},
                {"loss_chunks", double(sched.loss_chunks)}};
    for (size_t i = 0; i < unit_norms.size(); ++i) m.values["grad_norm/" + group_units[i]] = unit_norms[i];
    if (root && !unit_norms.empty() && st.step == 1) {
      std::vector<size_t> order(unit_norms.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return unit_norms[a] > unit_norms[b]; });
      std::string top;
      for (size_t k = 0; k < order.size() && k < 3; ++k)
        top += str_cat(k ? ", " : "", group_units[order[k]], " ", unit_norms[order[k]]);
      OT_LOG_INFO("step 1 gradient norm ", rep.grad_norm, "; largest units: ", top,
                  " (grad_norm/<unit> in the metrics for the first ", unit_grad_norm_steps, " steps)");
    }
    StepShape shape{inputs, t.global_batch_size, images, vision_trained, t.peft.method != "lora"};
    shape.pairs_global = pairs_global;
    shape.pairs_sliding = pairs_sliding;
    const double flops = tm.step_flops(shape);
    m.values["mfu"] = flops / dt / (peak * world.size());
    at::Tensor rss = at::full({1}, peak_rss_bytes(), at::kLong);
    world.all_reduce(rss, ReduceOp::Max);
    m.values["peak_rss_bytes"] = double(rss.item<int64_t>());
    m.values["shard_bytes"] = double(engine.persistent_bytes() + engine.gather_accounting().peak.load());
    out.last_loss = loss;

    const bool last = st.step == total_steps;
    if (val && ((t.val_every_steps > 0 && st.step % t.val_every_steps == 0) || last)) {
      out.last_val_loss = validation_loss(engine, *val, dp);
      m.values["val_loss"] = out.last_val_loss;
    }
    metrics.log(m);
    const std::string line = progress.update(m);  // every step: the ETA averages all step times
    if (root && (st.step % log_every == 0 || last)) OT_LOG_INFO(line);

    // Stop requests: every rank learns whether any rank got the signal, then all save and exit.
    at::Tensor stop = at::full({1}, stop_requested() ? 1 : 0, at::kInt);
    world.all_reduce(stop, ReduceOp::Max);
    const bool planned = st.step == t.stop_at_step && !last;
    if (stop.item<int>() != 0 || planned) {
      if (root)
        OT_LOG_WARN(planned ? str_cat("train.stop_at_step=", st.step) : str_cat("stop requested (signal ", stop_signal_number(), ")"),
                    ": checkpointing at step ", st.step);
      save();
      out.stopped_early = true;
      out.stopped_by_signal = !planned;
      break;
    }
    if (last || (t.ckpt_every_steps > 0 && st.step % t.ckpt_every_steps == 0)) save();
  }
  out.steps_done = st.step;
  if (!out.stopped_early && t.export_format != "none") {
    ExportOptions eo;
    eo.format = t.export_format;
    out.export_dir = t.run_dir + "/export-" + t.export_format;
    export_model(engine, t, eo, out.export_dir, world);
  }
  if (root)
    OT_LOG_INFO(out.stopped_early ? "stopped" : "finished", " at step ", st.step, "/", total_steps,
                "; checkpoint ", out.last_checkpoint, out.stopped_early ? " (resume with --resume auto)" : "");
  return out;
}

}  // namespace omnitune
