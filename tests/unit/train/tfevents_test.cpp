// TensorBoard event files: CRC-32C against published vectors and a bitwise reference, and files
// written by TfEventsWriter read back with an independent reader (tfevents_reader.h): framing,
// both CRCs, file_version first, tags, steps, values; readable after each flush while still open.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <regex>

#include "train/tfevents.h"
#include "../test_util.h"
#include "tfevents_reader.h"

using namespace omnitune;
using namespace omnitune::tfevents_test;
namespace fs = std::filesystem;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string only_file(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  EXPECT_EQ(files.size(), 1u) << dir;
  return files.empty() ? "" : files[0];
}

}  // namespace

// RFC 3720 (iSCSI) appendix B.4 vectors and the common check value of "123456789".
TEST(Crc32c, PublishedVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0x00000000u);
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, 0), down(32, 0);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up.data(), up.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c(down.data(), down.size()), 0x113FDB5Cu);
  // The test reader's bitwise CRC agrees on the same vectors (it checks the files below).
  EXPECT_EQ(crc32c_bitwise("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_bitwise(up), 0x46DD794Eu);
}

TEST(Crc32c, TableMatchesBitwiseOnRandomData) {
  std::mt19937 rng(7);
  for (size_t n : {1u, 3u, 8u, 63u, 64u, 65u, 1000u, 4099u}) {
    std::string b(n, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    EXPECT_EQ(crc32c(b.data(), b.size()), crc32c_bitwise(b)) << "length " << n;
    EXPECT_EQ(crc32c_masked(crc32c(b.data(), b.size())), mask(crc32c_bitwise(b)));
  }
}

TEST(TfEvents, FileNameFirstRecordAndScalarsReadBackWhileOpen) {
  const std::string dir = test_util::fresh_temp_dir("tfevents_basic");
  const double t0 = std::floor(now_s());
  TfEventsWriter w(dir);
  const double t1 = now_s();
  char host[256] = {};
  gethostname(host, sizeof host - 1);

  // Name: events.out.tfevents.<unix seconds>.<hostname>, in the given (created) directory.
  const std::string name = fs::path(w.path()).filename().string();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(name, m, std::regex(R"(events\.out\.tfevents\.(\d+)\.(.+))"))) << name;
  EXPECT_GE(std::stod(m[1]), t0);
  EXPECT_LE(std::stod(m[1]), t1);
  EXPECT_EQ(m[2].str(), std::string(host));
  EXPECT_EQ(fs::path(w.path()).parent_path(), fs::path(dir));

  // The version record is on disk before any scalar.
  auto ev = read_events(w.path());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");
  EXPECT_TRUE(ev[0].scalars.empty());
  EXPECT_GE(ev[0].wall_time, t0);
  EXPECT_LE(ev[0].wall_time, now_s());

  w.scalar("train/loss", 2.5, 1);
  w.scalar("train/lr", 1e-5, 1);
  w.flush();
  ev = read_events(w.path());  // the writer is still open: a crash now would lose nothing
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[1].step, 1);
  ASSERT_EQ(ev[1].scalars.size(), 1u);
  EXPECT_EQ(ev[1].scalars[0].first, "train/loss");
  EXPECT_EQ(ev[1].scalars[0].second, 2.5f);
  EXPECT_EQ(ev[2].scalars[0].first, "train/lr");
  EXPECT_EQ(ev[2].scalars[0].second, static_cast<float>(1e-5));
  EXPECT_TRUE(ev[1].file_version.empty());
  EXPECT_GE(ev[2].wall_time, ev[0].wall_time);
}

TEST(TfEvents, VarintStepsSpecialValuesAndLongTags) {
  const std::string dir = test_util::fresh_temp_dir("tfevents_values");
  const std::string long_tag = "val/" + std::string(300, 'x');  // length varint takes two bytes
  const int64_t big = (int64_t(1) << 40) + 3;
  std::string path;
  {
    TfEventsWriter w(dir);
    path = w.path();
    w.scalar("a", -1.5, 0);
    w.scalar("b", 7.0, 127);
    w.scalar("c", 8.0, 128);
    w.scalar(long_tag, 3.25, big);
    w.scalar("nan", std::nan(""), 5);
    w.scalar("inf", std::numeric_limits<double>::infinity(), 6);
    w.scalar("round", 0.1, 7);  // stored as float
  }
  const auto ev = read_events(path);
  ASSERT_EQ(ev.size(), 8u);
  const std::vector<std::pair<std::string, int64_t>> expect = {
      {"a", 0}, {"b", 127}, {"c", 128}, {long_tag, big}, {"nan", 5}, {"inf", 6}, {"round", 7}};
  for (size_t i = 0; i < expect.size(); ++i) {
    ASSERT_EQ(ev[i + 1].scalars.size(), 1u);
    EXPECT_EQ(ev[i + 1].scalars[0].first, expect[i].first);
    EXPECT_EQ(ev[i + 1].step, expect[i].second);
  }
  EXPECT_EQ(ev[1].scalars[0].second, -1.5f);
  EXPECT_EQ(ev[4].scalars[0].second, 3.25f);
  EXPECT_TRUE(std::isnan(ev[5].scalars[0].second));
  EXPECT_TRUE(std::isinf(ev[6].scalars[0].second) && ev[6].scalars[0].second > 0);
  EXPECT_EQ(ev[7].scalars[0].second, 0.1f);
}

// The reader's checks are real: a flipped bit anywhere in a record, or a cut file, is caught.
TEST(TfEvents, ReaderRejectsCorruptedOrTruncatedFiles) {
  const std::string dir = test_util::fresh_temp_dir("tfevents_corrupt");
  {
    TfEventsWriter w(dir);
    w.scalar("train/loss", 1.0, 1);
  }
  const std::string good = read_file(only_file(dir));
  ASSERT_EQ(read_records(good).size(), 2u);
  const size_t first_len = 12 + read_records(good)[0].size() + 4;
  for (size_t at : {size_t(0), size_t(9), size_t(14), first_len - 1, first_len + 13, good.size() - 1}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    EXPECT_THROW(read_records(bad), std::runtime_error) << "byte " << at;
  }
  EXPECT_THROW(read_records(good.substr(0, good.size() - 2)), std::runtime_error);
}
