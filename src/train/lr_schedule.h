// Learning-rate schedules: linear warm-up from warmup_start_factor x lr to lr, then cosine or
// linear decay to min_lr at total_steps, or constant (the reference has no schedule and no floor).
#pragma once

#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/config_schema.h"

namespace omnitune {

struct LrScheduleOptions {
  std::string kind = "cosine";  // cosine | linear | constant
  double lr = 1e-5, min_lr = 0.0;
  int64_t warmup_steps = 0, total_steps = 1;
  double warmup_start_factor = 0.0;
};

// The learning rate of 0-based optimizer step `step`. Beyond total_steps it stays at min_lr
// (constant: at lr).
double lr_at(const LrScheduleOptions& o, int64_t step);

// Errors for impossible settings (min_lr > lr, warm-up longer than the run, unknown kind).
void lr_schedule_validate(const LrScheduleOptions& o);

void register_lr_schedule_config(ConfigSchema& schema);  // optimizer.lr and lr_scheduler.*
LrScheduleOptions lr_schedule_from_config(const Config& cfg, int64_t total_steps);

}  // namespace omnitune
