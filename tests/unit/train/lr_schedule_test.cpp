// LR schedules against hand-computed values (cosine, linear, constant, warm-up from a start
// factor, the floor past the end), the config keys and their defaults, and the errors for
// impossible settings (each message names the key).
#include <gtest/gtest.h>

#include <string>

#include "core/config.h"
#include "core/error.h"
#include "train/lr_schedule.h"

using namespace omnitune;

namespace {

LrScheduleOptions opts(const std::string& kind, double lr, double min_lr, int64_t warmup, int64_t total,
                       double start = 0.0) {
  LrScheduleOptions o;
  o.kind = kind;
  o.lr = lr;
  o.min_lr = min_lr;
  o.warmup_steps = warmup;
  o.total_steps = total;
  o.warmup_start_factor = start;
  return o;
}

Config load(const std::vector<std::string>& overrides) {
  ConfigSchema s;
  register_core_config(s);
  register_lr_schedule_config(s);
  return Config::load(s, "", overrides);
}

std::string error_of(const LrScheduleOptions& o) {
  try {
    lr_schedule_validate(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(LrSchedule, CosineWithoutWarmupHitsHandValues) {
  const auto o = opts("cosine", 1.0, 0.0, 0, 4);
  // 0.5 * (1 + cos(pi * k / 4)) for k = 0..4
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 1.0);
  EXPECT_NEAR(lr_at(o, 1), 0.8535533905932737, 1e-15);
  EXPECT_NEAR(lr_at(o, 2), 0.5, 1e-15);
  EXPECT_NEAR(lr_at(o, 3), 0.1464466094067262, 1e-15);
  EXPECT_DOUBLE_EQ(lr_at(o, 4), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 1000), 0.0);
}

TEST(LrSchedule, LinearDecaysToTheFloor) {
  const auto o = opts("linear", 1.0, 0.2, 0, 5);
  const double expect[] = {1.0, 0.84, 0.68, 0.52, 0.36, 0.2, 0.2};
  for (int k = 0; k <= 6; ++k) EXPECT_NEAR(lr_at(o, k), expect[k], 1e-15) << "step " << k;
}

TEST(LrSchedule, WarmupFromStartFactorThenDecay) {
  // lr 2e-4, warm-up 10 steps from 0.1 x lr, cosine to 2e-5 at step 110.
  const auto o = opts("cosine", 2e-4, 2e-5, 10, 110, 0.1);
  EXPECT_NEAR(lr_at(o, 0), 2e-5, 1e-18);
  EXPECT_NEAR(lr_at(o, 5), 2e-4 * 0.55, 1e-18);
  EXPECT_NEAR(lr_at(o, 9), 2e-4 * 0.91, 1e-18);
  EXPECT_DOUBLE_EQ(lr_at(o, 10), 2e-4);               // warm-up ends exactly at the peak
  EXPECT_NEAR(lr_at(o, 60), 2e-5 + 1.8e-4 * 0.5, 1e-18);  // cosine midpoint
  EXPECT_DOUBLE_EQ(lr_at(o, 110), 2e-5);
  EXPECT_DOUBLE_EQ(lr_at(o, 5000), 2e-5);
  // Warm-up rises, decay falls, never below the floor.
  for (int64_t k = 1; k <= 10; ++k) EXPECT_GT(lr_at(o, k), lr_at(o, k - 1)) << k;
  for (int64_t k = 11; k <= 110; ++k) {
    EXPECT_LT(lr_at(o, k), lr_at(o, k - 1)) << k;
    EXPECT_GE(lr_at(o, k), 2e-5) << k;
  }
}

TEST(LrSchedule, ConstantStaysAtLrAfterWarmup) {
  const auto o = opts("constant", 3e-4, 0.0, 4, 20);
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.0);
  EXPECT_NEAR(lr_at(o, 2), 1.5e-4, 1e-18);
  for (int64_t k : {4, 10, 19, 20, 100}) EXPECT_DOUBLE_EQ(lr_at(o, k), 3e-4) << k;
}

TEST(LrSchedule, WarmupAsLongAsTheRun) {
  const auto o = opts("linear", 1.0, 0.25, 4, 4);
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 3), 0.75);
  EXPECT_DOUBLE_EQ(lr_at(o, 4), 0.25);  // past the end: the floor
  EXPECT_NO_THROW(lr_schedule_validate(o));
}

TEST(LrSchedule, ConfigDefaultsAndOverrides) {
  LrScheduleOptions d = lr_schedule_from_config(load({}), 100);
  EXPECT_EQ(d.kind, "cosine");
  EXPECT_DOUBLE_EQ(d.lr, 1e-5);
  EXPECT_DOUBLE_EQ(d.min_lr, 0.0);
  EXPECT_EQ(d.warmup_steps, 0);
  EXPECT_DOUBLE_EQ(d.warmup_start_factor, 0.0);
  EXPECT_EQ(d.total_steps, 100);

  LrScheduleOptions o = lr_schedule_from_config(
      load({"lr_scheduler.kind=linear", "optimizer.lr=2e-4", "lr_scheduler.warmup_steps=10",
            "lr_scheduler.min_lr=2e-5", "lr_scheduler.warmup_start_factor=0.1"}),
      110);
  EXPECT_EQ(o.kind, "linear");
  EXPECT_NEAR(lr_at(o, 0), 2e-5, 1e-18);
  EXPECT_NEAR(lr_at(o, 60), 1.1e-4, 1e-18);
  EXPECT_DOUBLE_EQ(lr_at(o, 110), 2e-5);
}

TEST(LrSchedule, UnknownKindFromConfigListsTheChoices) {
  try {
    load({"lr_scheduler.kind=step"});
    FAIL() << "an unknown kind loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("lr_scheduler.kind"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cosine, linear, constant"), std::string::npos) << msg;
  }
}

TEST(LrSchedule, ImpossibleSettingsNameTheKey) {
  EXPECT_EQ(error_of(opts("cosine", 1e-4, 0, 0, 10)), "");
  EXPECT_NE(error_of(opts("step", 1e-4, 0, 0, 10)).find("cosine, linear, constant"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 1e-4, 1e-3, 0, 10)).find("lr_scheduler.min_lr"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 1e-4, -1e-6, 0, 10)).find("lr_scheduler.min_lr"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 1e-4, 0, 11, 10)).find("lr_scheduler.warmup_steps"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 1e-4, 0, -1, 10)).find("lr_scheduler.warmup_steps"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 0.0, 0, 0, 10)).find("optimizer.lr"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", -1e-4, 0, 0, 10)).find("optimizer.lr"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 1e-4, 0, 0, 10, 1.5)).find("warmup_start_factor"), std::string::npos);
  EXPECT_NE(error_of(opts("cosine", 1e-4, 0, 0, 10, -0.5)).find("warmup_start_factor"), std::string::npos);
  // The config path reports the same errors.
  EXPECT_THROW(lr_schedule_from_config(load({"lr_scheduler.warmup_steps=50"}), 20), Error);
  EXPECT_THROW(lr_schedule_from_config(load({"lr_scheduler.min_lr=1e-3"}), 20), Error);
}
