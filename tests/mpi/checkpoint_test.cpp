// Checkpoints under mpirun (issue 6): a run stopped after 3 steps and resumed from its checkpoint
// continues with bit-identical losses and parameters; a checkpoint written on one mesh resumes on
// another; corrupt and half-written checkpoints are clear errors or ignored; keep-last-K prunes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "parallel_harness.h"
#include "train/checkpoint.h"

using namespace omnitune;
using namespace omnitune::ptest;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  Gemma3Config cfg = tiny_vlm();
  std::map<std::string, at::Tensor> weights = full_weights(cfg, 11);
};

Fixture& fx() {
  static Fixture f;
  return f;
}

// A fresh directory shared by all ranks (one machine in tests; a shared file system on clusters).
std::string fresh_dir(const std::string& name) {
  auto world = MpiComm::world();
  const std::string d = std::string(OMNITUNE_BINARY_DIR) + "/test-tmp/" + name + "-np" + std::to_string(world->size());
  if (world->rank() == 0) {
    fs::remove_all(d);
    fs::create_directories(d);
  }
  world->barrier();
  return d;
}

TrainerState state_at(int step) {
  TrainerState s;
  s.step = step;
  s.consumed = step * 8;
  s.config_yaml = "seed: 1\n";
  return s;
}

int world_size() { return MpiComm::world()->size(); }

}  // namespace

TEST(Checkpoint, ResumeIsBitExact) {
  auto world = MpiComm::world();
  const int dp = world_size() == 4 ? 2 : 2, tp = world_size() == 4 ? 2 : 1;
  Variant v;
  v.steps = 6;
  RunResult whole = train(*world, dp, tp, v, fx().weights, fx().cfg);

  const std::string root = fresh_dir("resume");
  {
    TestRun first(*world, dp, tp, v, fx().weights, fx().cfg);
    for (int s = 0; s < 3; ++s) first.step(s);
    checkpoint_save(root, state_at(3), first.engine(), first.optimizer(), *world, 2);
  }
  TestRun second(*world, dp, tp, v, fx().weights, fx().cfg);
  TrainerState st = checkpoint_load(checkpoint_resolve(root, "auto"), second.engine(), second.optimizer(), *world);
  EXPECT_EQ(st.step, 3);
  EXPECT_EQ(st.consumed, 24);
  EXPECT_EQ(st.config_yaml, "seed: 1\n");
  for (int s = 3; s < 6; ++s) second.step(s);
  RunResult resumed = second.finish();
  ASSERT_EQ(resumed.losses.size(), 3u);
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(resumed.losses[s], whole.losses[3 + s]) << "step " << 3 + s << " loss differs after resume";
    EXPECT_EQ(resumed.norms[s], whole.norms[3 + s]) << "step " << 3 + s;
  }
  for (const auto& [name, t] : whole.params) EXPECT_TRUE(at::equal(t, resumed.params.at(name))) << name;
}

// Written on DP=world, resumed on TP=2 (and the other way round): same trajectory as the
// uninterrupted single-rank run, within the engine's fp32 tolerance.
TEST(Checkpoint, ReshardedResume) {
  auto world = MpiComm::world();
  Variant v;
  v.steps = 6;
  auto single = world->split(world->rank(), 0, "single");
  RunResult ref = train(*single, 1, 1, v, fx().weights, fx().cfg);
  const int n = world_size();
  for (auto [from, to] : {std::pair<std::pair<int, int>, std::pair<int, int>>{{n, 1}, {n / 2, 2}},
                          {{n / 2, 2}, {n, 1}}}) {
    const std::string root = fresh_dir("reshard");
    {
      TestRun a(*world, from.first, from.second, v, fx().weights, fx().cfg);
      for (int s = 0; s < 3; ++s) a.step(s);
      checkpoint_save(root, state_at(3), a.engine(), a.optimizer(), *world, 0);
    }
    TestRun b(*world, to.first, to.second, v, fx().weights, fx().cfg);
    checkpoint_load(checkpoint_resolve(root, "auto"), b.engine(), b.optimizer(), *world);
    for (int s = 3; s < 6; ++s) b.step(s);
    RunResult got = b.finish();
    for (int s = 0; s < 3; ++s)
      EXPECT_LT(std::abs(got.losses[s] - ref.losses[3 + s]) / ref.losses[3 + s], 1e-5)
          << "dp" << from.first << "tp" << from.second << " -> dp" << to.first << "tp" << to.second;
    for (const auto& [name, t] : ref.params)
      EXPECT_LT((got.params.at(name) - t).norm().item<double>() / t.norm().item<double>(), 1e-5) << name;
  }
}

TEST(Checkpoint, CorruptHalfWrittenAndPruned) {
  auto world = MpiComm::world();
  const std::string root = fresh_dir("robust");
  Variant v;
  TestRun run(*world, world_size(), 1, v, fx().weights, fx().cfg);
  run.step(0);
  for (int s = 1; s <= 3; ++s) checkpoint_save(root, state_at(s), run.engine(), run.optimizer(), *world, 2);
  // keep_last = 2: step 1 is gone, LATEST names step 3.
  EXPECT_FALSE(fs::exists(root + "/epoch_0_step_1"));
  EXPECT_TRUE(fs::exists(root + "/epoch_0_step_2/meta.json"));
  EXPECT_EQ(checkpoint_resolve(root, "auto"), root + "/epoch_0_step_3");
  // A half-written newer checkpoint (crash mid-save) is never picked up.
  if (world->rank() == 0) fs::create_directories(root + "/.tmp-epoch_0_step_4");
  world->barrier();
  EXPECT_EQ(checkpoint_resolve(root, "auto"), root + "/epoch_0_step_3");
  EXPECT_THROW(checkpoint_resolve(root, root + "/.tmp-epoch_0_step_4"), Error);
  // One flipped byte in a rank file: a clear error on every rank, naming the file.
  if (world->rank() == 0) {
    std::fstream f(root + "/epoch_0_step_3/rank_00001.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  world->barrier();
  try {
    checkpoint_load(root + "/epoch_0_step_3", run.engine(), run.optimizer(), *world);
    ADD_FAILURE() << "corrupt checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank_00001.safetensors is corrupt"), std::string::npos) << e.what();
  }
  // LATEST naming a directory without meta.json: an error, not a silent fresh start.
  if (world->rank() == 0) {
    fs::create_directories(root + "/epoch_0_step_9");
    std::ofstream(root + "/LATEST") << "epoch_0_step_9\n";
  }
  world->barrier();
  EXPECT_THROW(checkpoint_resolve(root, "auto"), Error);
  EXPECT_EQ(checkpoint_resolve(root + "/none", "auto"), "");
}
