// MetricsLogger and the progress line: metrics.jsonl is flushed per line and stays consistent on
// resume (later records and a crash-cut line dropped), non-finite values are JSON null, the same
// scalars reach TensorBoard under train/ and val/ (read back with the independent reader while the
// logger is open), other ranks write nothing; the ETA follows the moving average of step times.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "train/metrics.h"
#include "../test_util.h"
#include "tfevents_reader.h"

using namespace omnitune;
using namespace omnitune::tfevents_test;
namespace fs = std::filesystem;

namespace {

Config load(const std::vector<std::string>& overrides) {
  ConfigSchema s;
  register_core_config(s);
  register_metrics_config(s);
  return Config::load(s, "", overrides);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<int64_t> steps_of(const std::string& path) {
  std::vector<int64_t> out;
  for (const auto& l : lines_of(path)) out.push_back(nlohmann::json::parse(l).at("step").get<int64_t>());
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TEST(Metrics, ConfigKeysAndDefaults) {
  const Config c = load({});
  EXPECT_EQ(c.get_int("logging.log_every_steps"), 1);
  EXPECT_TRUE(c.get_bool("logging.tensorboard"));
  EXPECT_EQ(c.get_string("logging.metrics_file"), "metrics.jsonl");
}

TEST(Metrics, JsonLinesFlushedPerStepWithNullForNonFinite) {
  const std::string dir = test_util::fresh_temp_dir("metrics_jsonl");
  MetricsLogger m(dir, load({"logging.tensorboard=false", "logging.metrics_file=m.jsonl"}), true);
  m.resume_from_step(0);
  m.log({1, 0, {{"loss", 2.5}, {"lr", 1e-5}, {"tokens_per_s", 1234.0}}});
  // Readable before the logger closes (a crash loses at most the step in flight).
  auto lines = lines_of(dir + "/m.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j.at("step").get<int64_t>(), 1);
  EXPECT_EQ(j.at("epoch").get<int64_t>(), 0);
  EXPECT_EQ(j.at("loss").get<double>(), 2.5);
  EXPECT_EQ(j.at("lr").get<double>(), 1e-5);  // round-trips exactly
  EXPECT_EQ(j.at("tokens_per_s").get<double>(), 1234.0);
  EXPECT_EQ(j.size(), 5u);

  m.log({2, 1, {{"loss", std::nan("")}, {"grad_norm", INFINITY}}});
  lines = lines_of(dir + "/m.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  j = nlohmann::json::parse(lines[1]);
  EXPECT_TRUE(j.at("loss").is_null());
  EXPECT_TRUE(j.at("grad_norm").is_null());
  EXPECT_EQ(j.at("epoch").get<int64_t>(), 1);
  EXPECT_FALSE(fs::exists(dir + "/tensorboard"));  // logging.tensorboard=false
}

TEST(Metrics, ResumeKeepsEarlierLinesAndDropsLaterAndCutOnes) {
  const std::string dir = test_util::fresh_temp_dir("metrics_resume");
  const Config cfg = load({"logging.tensorboard=false"});
  {
    MetricsLogger m(dir, cfg, true);
    m.resume_from_step(0);
    for (int s = 1; s <= 6; ++s) m.log({s, 0, {{"loss", 10.0 - s}}});
  }
  const auto before = lines_of(dir + "/metrics.jsonl");
  { std::ofstream(dir + "/metrics.jsonl", std::ios::app) << R"({"step":7,"epo)"; }  // cut by a crash

  MetricsLogger m(dir, cfg, true);
  m.resume_from_step(4);  // the checkpoint was at step 4: steps 5.. are redone
  auto after = lines_of(dir + "/metrics.jsonl");
  ASSERT_EQ(after.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(after[i], before[i]);  // kept byte for byte
  m.log({5, 0, {{"loss", 42.0}}});
  EXPECT_EQ(steps_of(dir + "/metrics.jsonl"), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(nlohmann::json::parse(lines_of(dir + "/metrics.jsonl")[4]).at("loss").get<double>(), 42.0);
}

TEST(Metrics, FirstLogWithoutResumeStillKeepsTheFileConsistent) {
  const std::string dir = test_util::fresh_temp_dir("metrics_implicit");
  const Config cfg = load({"logging.tensorboard=false"});
  {
    MetricsLogger m(dir, cfg, true);
    for (int s = 1; s <= 5; ++s) m.log({s, 0, {{"loss", 1.0}}});
  }
  MetricsLogger m(dir, cfg, true);
  m.log({3, 0, {{"loss", 2.0}}});  // records >= 3 from the earlier run are replaced
  EXPECT_EQ(steps_of(dir + "/metrics.jsonl"), (std::vector<int64_t>{1, 2, 3}));
}

TEST(Metrics, TensorBoardTagsStepsAndValuesMatchTheJsonLines) {
  const std::string dir = test_util::fresh_temp_dir("metrics_tb");
  MetricsLogger m(dir, load({}), true);
  m.resume_from_step(0);
  m.log({1, 0, {{"loss", 3.0}, {"lr", 2e-5}, {"grad_norm", 0.75}}});
  m.log({2, 0, {{"loss", 2.0}, {"lr", 1e-5}, {"grad_norm", 0.5}, {"val_loss", 2.25}}});

  ASSERT_TRUE(fs::is_directory(dir + "/tensorboard"));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir + "/tensorboard")) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 1u);
  const auto ev = read_events(files[0]);  // the logger is still open: flushed per step
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");
  std::map<std::pair<std::string, int64_t>, float> got;
  for (size_t i = 1; i < ev.size(); ++i)
    for (const auto& [tag, v] : ev[i].scalars) got[{tag, ev[i].step}] = v;
  const std::map<std::pair<std::string, int64_t>, float> want = {
      {{"train/loss", 1}, 3.0f},       {{"train/lr", 1}, 2e-5f},      {{"train/grad_norm", 1}, 0.75f},
      {{"train/loss", 2}, 2.0f},       {{"train/lr", 2}, 1e-5f},      {{"train/grad_norm", 2}, 0.5f},
      {{"val/loss", 2}, 2.25f}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(steps_of(dir + "/metrics.jsonl"), (std::vector<int64_t>{1, 2}));
}

TEST(Metrics, DisabledLoggerWritesNothing) {
  const std::string dir = test_util::fresh_temp_dir("metrics_off");
  MetricsLogger m(dir, load({}), false);
  m.resume_from_step(3);
  m.log({4, 0, {{"loss", 1.0}}});
  EXPECT_FALSE(fs::exists(dir));
}

TEST(Progress, FormatHandComputed) {
  EXPECT_EQ(format_progress(7, 50, 1.23456, 3e-4, 12.5, 98765.4, 3725.4),
            "step 7/50  loss 1.2346  lr 3.00e-04  grad 12.5  98765 tok/s  ETA 1:02:05");
  EXPECT_EQ(format_progress(50, 50, 0.5, 0.0, 0.001, 0.0, 0.0),
            "step 50/50  loss 0.5000  lr 0.00e+00  grad 0.001  0 tok/s  ETA 0:00:00");
  EXPECT_TRUE(ends_with(format_progress(1, 2, 1.0, 1.0, 1.0, 1.0, -5.0), "ETA 0:00:00"));  // clamped
  EXPECT_NE(format_progress(1, 100000, 1.0, 1.0, 1.0, 1.0, 360000.0).find("ETA 100:00:00"), std::string::npos);
}

TEST(Progress, EtaFollowsTheMovingAverageOfStepTimes) {
  ProgressLine p(10);
  // avg 2 s, 9 steps left: 18 s
  EXPECT_EQ(p.update({1, 0, {{"loss", 2.0}, {"lr", 1e-4}, {"grad_norm", 1.0}, {"tokens_per_s", 500.0}, {"step_time_s", 2.0}}}),
            "step 1/10  loss 2.0000  lr 1.00e-04  grad 1  500 tok/s  ETA 0:00:18");
  // avg 0.9 * 2 + 0.1 * 4 = 2.2 s, 8 left: 17.6 -> 18 s
  EXPECT_NE(p.update({2, 0, {{"step_time_s", 4.0}}}).find("ETA 0:00:18"), std::string::npos);
  // avg 0.9 * 2.2 + 0.1 * 12 = 3.18 s, 7 left: 22.26 -> 22 s; validation loss appended
  const std::string line = p.update({3, 0, {{"loss", 1.5}, {"step_time_s", 12.0}, {"val_loss", 1.75}}});
  EXPECT_NE(line.find("ETA 0:00:22"), std::string::npos) << line;
  EXPECT_TRUE(ends_with(line, "ETA 0:00:22  val_loss 1.7500")) << line;
}
