// LR schedules (warm-up, cosine/linear/constant, floor, errors), CRC-32C, the progress line, and
// metrics.jsonl truncation on resume.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "train/lr_schedule.h"
#include "train/metrics.h"
#include "train/tfevents.h"

using namespace omnitune;

TEST(LrSchedule, WarmupCosineLinearConstant) {
  LrScheduleOptions o;
  o.lr = 1.0;
  o.min_lr = 0.1;
  o.warmup_steps = 10;
  o.total_steps = 110;
  o.warmup_start_factor = 0.0;
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 5), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(o, 10), 1.0);
  EXPECT_NEAR(lr_at(o, 60), 0.1 + 0.9 * 0.5, 1e-12);  // cosine midpoint
  EXPECT_NEAR(lr_at(o, 109), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 99 / 100)), 1e-12);
  EXPECT_DOUBLE_EQ(lr_at(o, 110), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(o, 500), 0.1);
  o.kind = "linear";
  EXPECT_NEAR(lr_at(o, 60), 0.55, 1e-12);
  o.kind = "constant";
  EXPECT_DOUBLE_EQ(lr_at(o, 100), 1.0);
  o.warmup_start_factor = 0.1;
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.1);
}

TEST(LrSchedule, ImpossibleSettingsAreErrors) {
  LrScheduleOptions o;
  o.lr = 1e-3;
  o.total_steps = 10;
  o.min_lr = 1e-2;
  EXPECT_THROW(lr_schedule_validate(o), Error);
  o.min_lr = 0;
  o.warmup_steps = 11;
  EXPECT_THROW(lr_schedule_validate(o), Error);
  o.warmup_steps = 0;
  o.kind = "step";
  EXPECT_THROW(lr_schedule_validate(o), Error);
}

TEST(TfEvents, Crc32cKnownAnswer) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Metrics, ProgressLineAndResumeTruncation) {
  EXPECT_EQ(format_progress(120, 1000, 2.34123, 1e-5, 0.8412, 1234.4, 754.6),
            "step 120/1000  loss 2.3412  lr 1.00e-05  grad 0.841  1234 tok/s  ETA 0:12:35");
  const std::string dir = ::testing::TempDir() + "/metrics_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  ConfigSchema s;
  register_core_config(s);
  register_metrics_config(s);
  Config cfg = Config::load(s, "", {"logging.tensorboard=false"});
  {
    MetricsLogger m(dir, cfg, true);
    for (int i = 1; i <= 5; ++i) m.log({i, 0, {{"loss", 1.0 / i}}});
  }
  {
    MetricsLogger m(dir, cfg, true);
    m.resume_from_step(3);  // a resume from the step-3 checkpoint rewrites steps 4 and 5
    m.log({4, 0, {{"loss", 9.0}}});
  }
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], R"({"epoch":0,"loss":9.0,"step":4})");
  MetricsLogger off(dir + "/none", cfg, false);
  off.log({1, 0, {{"loss", 1.0}}});
  EXPECT_FALSE(std::filesystem::exists(dir + "/none"));
}

#include "model/gemma3_presets.h"
#include "train/flops.h"

// The MFU numerator by hand for the tiny preset (hidden 64, MLP 128, 2 sliding layers of window 8,
// 4 query / 2 KV heads of 16, vocab 512): 100 tokens in 4 sequences (25 tokens each).
TEST(Flops, HandComputedTinyModel) {
  const Gemma3Config c = gemma3_config_parse(gemma3_preset_config_json("tiny"), "tiny");
  ASSERT_TRUE(c.text.layer_is_sliding[0] && c.text.layer_is_sliding[1]);
  const double block = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128;  // 36864
  const double lm = 2 * block + 64 * 512;                               // 106496
  const double attn = 2 * 12.0 * 4 * 16 * 100 * 8;                     // keys = min(25 / 2, window 8)
  EXPECT_DOUBLE_EQ(train_step_flops(c, {100, 4, 0, false}), 6 * lm * 100 + attn);
  EXPECT_GT(measure_matmul_flops(at::kFloat, 128), 1e6);
  EXPECT_GT(peak_rss_bytes(), 1 << 20);
}
