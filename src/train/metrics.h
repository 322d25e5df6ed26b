// Per-step metrics of a run (rank 0): one JSON object per line in <run_dir>/metrics.jsonl (flushed
// per line, so a crash loses at most the step in flight; a resume drops records past the resumed
// step), the same scalars as TensorBoard events (train/<name>, val/<name>), and the one-line
// progress text with an ETA.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/config_schema.h"
#include "train/tfevents.h"

namespace omnitune {

struct StepMetrics {
  int64_t step = 0;   // optimizer steps done (1-based in logs)
  int64_t epoch = 0;
  std::map<std::string, double> values;  // loss, lr, grad_norm, tokens_per_s, val_loss, ...
};

void register_metrics_config(ConfigSchema& schema);  // logging.log_every_steps, .tensorboard, .metrics_file

class MetricsLogger {
 public:
  // Disabled loggers (ranks other than 0) do nothing.
  MetricsLogger(const std::string& run_dir, const Config& cfg, bool enabled);
  // Keeps only the records with step <= `step` (a resumed run rewrites what follows).
  void resume_from_step(int64_t step);
  void log(const StepMetrics& m);
  const std::string& path() const { return path_; }

 private:
  bool enabled_;
  std::string path_;
  std::ofstream out_;
  std::unique_ptr<TfEventsWriter> tb_;
};

// "step 120/1000  loss 2.3412  lr 1.00e-05  grad 0.84  1234 tok/s  ETA 0:12:34"
std::string format_progress(int64_t step, int64_t total, double loss, double lr, double grad_norm, double tokens_per_s,
                            double eta_s);

class ProgressLine {
 public:
  explicit ProgressLine(int64_t total_steps) : total_(total_steps) {}
  // Updates the step-time average (exponential, from step_time_s) and returns the line.
  std::string update(const StepMetrics& m);

 private:
  int64_t total_;
  double avg_step_s_ = -1;
};

}  // namespace omnitune
