#include "train/metrics.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace omnitune {

void register_metrics_config(ConfigSchema& s) {
  s.add({"logging.log_every_steps", ConfigType::Int, "1", "progress line on rank 0 every N steps", {}});
  s.add({"logging.tensorboard", ConfigType::Bool, "true", "also write TensorBoard event files into the run dir", {}});
  s.add({"logging.metrics_file", ConfigType::String, "metrics.jsonl", "per-step metrics file in the run dir", {}});
  s.add({"logging.unit_grad_norm_steps", ConfigType::Int, "20",
         "log every FSDP unit's gradient norm (before clipping) as grad_norm/<unit> for the first N steps; 0 = off", {}});
}

MetricsLogger::MetricsLogger(const std::string& run_dir, const Config& cfg, bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  std::filesystem::create_directories(run_dir);
  path_ = run_dir + "/" + cfg.get_string("logging.metrics_file");
  if (cfg.get_bool("logging.tensorboard")) tb_ = std::make_unique<TfEventsWriter>(run_dir + "/tensorboard");
}

void MetricsLogger::resume_from_step(int64_t step) {
  if (!enabled_) return;
  std::vector<std::string> keep;
  {
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      try {
        if (nlohmann::json::parse(line).value("step", int64_t(0)) <= step) keep.push_back(line);
      } catch (const std::exception&) {
        // A line cut by a crash mid-write: dropped.
      }
    }
  }
  out_.open(path_, std::ios::trunc);
  OT_REQUIRE(out_, "cannot write ", path_);
  for (const auto& l : keep) out_ << l << "\n";
  out_.flush();
}

void MetricsLogger::log(const StepMetrics& m) {
  if (!enabled_) return;
  if (!out_.is_open()) resume_from_step(m.step - 1);
  nlohmann::json j;
  j["step"] = m.step;
  j["epoch"] = m.epoch;
  for (const auto& [k, v] : m.values) j[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
  out_ << j.dump() << "\n";
  out_.flush();
  if (tb_) {
    for (const auto& [k, v] : m.values) {
      const bool val = k.rfind("val_", 0) == 0;
      tb_->scalar(val ? "val/" + k.substr(4) : "train/" + k, v, m.step);
    }
    tb_->flush();
  }
}

std::string format_progress(int64_t step, int64_t total, double loss, double lr, double grad_norm, double tokens_per_s,
                            double eta_s) {
  const int64_t e = std::max<int64_t>(0, static_cast<int64_t>(std::llround(eta_s)));
  char buf[256];
  std::snprintf(buf, sizeof buf, "step %lld/%lld  loss %.4f  lr %.2e  grad %.3g  %.0f tok/s  ETA %lld:%02lld:%02lld",
                static_cast<long long>(step), static_cast<long long>(total), loss, lr, grad_norm, tokens_per_s,
                static_cast<long long>(e / 3600), static_cast<long long>(e / 60 % 60), static_cast<long long>(e % 60));
  return buf;
}

std::string ProgressLine::update(const StepMetrics& m) {
  auto get = [&](const char* k) {
    auto it = m.values.find(k);
    return it == m.values.end() ? 0.0 : it->second;
  };
  const double dt = get("step_time_s");
  avg_step_s_ = avg_step_s_ < 0 ? dt : 0.9 * avg_step_s_ + 0.1 * dt;
  std::string line = format_progress(m.step, total_, get("loss"), get("lr"), get("grad_norm"), get("tokens_per_s"),
                                     avg_step_s_ * double(total_ - m.step));
  if (m.values.count("val_loss")) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "  val_loss %.4f", get("val_loss"));
    line += buf;
  }
  return line;
}

}  // namespace omnitune
