#include "train/lr_schedule.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {

double lr_at(const LrScheduleOptions& o, int64_t step) {
  if (o.warmup_steps > 0 && step < o.warmup_steps) {
    const double f = o.warmup_start_factor + (1.0 - o.warmup_start_factor) * double(step) / double(o.warmup_steps);
    return o.lr * f;
  }
  if (o.kind == "constant") return o.lr;
  const int64_t decay = o.total_steps - o.warmup_steps;
  if (decay <= 0 || step >= o.total_steps) return o.min_lr;
  const double progress = double(step - o.warmup_steps) / double(decay);  // 0 .. 1
  const double shape = o.kind == "linear" ? 1.0 - progress : 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.min_lr + (o.lr - o.min_lr) * shape;
}

void lr_schedule_validate(const LrScheduleOptions& o) {
  OT_REQUIRE(o.kind == "cosine" || o.kind == "linear" || o.kind == "constant", "lr_scheduler.kind '", o.kind,
             "' is not one of cosine, linear, constant");
  OT_REQUIRE(o.lr > 0, "optimizer.lr must be positive, got ", o.lr);
  OT_REQUIRE(o.min_lr >= 0 && o.min_lr <= o.lr, "lr_scheduler.min_lr=", o.min_lr, " must be in [0, optimizer.lr=", o.lr,
             "]");
  OT_REQUIRE(o.warmup_steps >= 0 && o.warmup_steps <= o.total_steps, "lr_scheduler.warmup_steps=", o.warmup_steps,
             " must be in [0, the run's ", o.total_steps, " steps]");
  OT_REQUIRE(o.warmup_start_factor >= 0 && o.warmup_start_factor <= 1,
             "lr_scheduler.warmup_start_factor must be in [0, 1], got ", o.warmup_start_factor);
}

void register_lr_schedule_config(ConfigSchema& s) {
  s.add({"optimizer.lr", ConfigType::Float, "1e-5", "peak learning rate (AdamW)", {}});
  s.add({"lr_scheduler.kind", ConfigType::String, "cosine",
         "decay after warm-up: cosine or linear to min_lr at the last step, or constant",
         {"cosine", "linear", "constant"}});
  s.add({"lr_scheduler.warmup_steps", ConfigType::Int, "0", "linear warm-up steps", {}});
  s.add({"lr_scheduler.min_lr", ConfigType::Float, "0.0", "learning rate at the last step (the floor)", {}});
  s.add({"lr_scheduler.warmup_start_factor", ConfigType::Float, "0.0",
         "warm-up starts at this fraction of optimizer.lr", {}});
}

LrScheduleOptions lr_schedule_from_config(const Config& c, int64_t total_steps) {
  LrScheduleOptions o;
  o.kind = c.get_string("lr_scheduler.kind");
  o.lr = c.get_float("optimizer.lr");
  o.min_lr = c.get_float("lr_scheduler.min_lr");
  o.warmup_steps = c.get_int("lr_scheduler.warmup_steps");
  o.warmup_start_factor = c.get_float("lr_scheduler.warmup_start_factor");
  o.total_steps = total_steps;
  lr_schedule_validate(o);
  return o;
}

}  // namespace omnitune
