// Single-process tests of the distributed layer's pure parts: SLURM cross-check against fake
// environments, CPUs per rank from affinity masks, mesh shape resolution, stop signals, the watchdog's timeout path, log format.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "dist/device_mesh.h"
#include "dist/stop_signal.h"
#include "dist/topology.h"
#include "dist/watchdog.h"

using namespace omnitune;

namespace {

struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

Topology topo(int rank, int size, int local, int local_size, int node, int nodes) {
  Topology t;
  t.world_rank = rank;
  t.world_size = size;
  t.local_rank = local;
  t.local_size = local_size;
  t.node_rank = node;
  t.num_nodes = nodes;
  t.host = "node1";
  return t;
}

}  // namespace

static cpu_set_t cpus(std::initializer_list<int> ids) {
  cpu_set_t s;
  CPU_ZERO(&s);
  for (int c : ids) CPU_SET(c, &s);
  return s;
}

TEST(CpusPerRank, BoundRanksUseTheirOwnCpus) {
  // srun --cpus-per-task=4: each rank bound to its own 4 CPUs of a 16-CPU node.
  std::vector<cpu_set_t> m{cpus({0, 1, 2, 3}), cpus({4, 5, 6, 7})};
  EXPECT_EQ(cpus_per_rank(m, 0), 4);
  EXPECT_EQ(cpus_per_rank(m, 1), 4);
  // mpirun --bind-to core: one each.
  std::vector<cpu_set_t> cores{cpus({0}), cpus({1})};
  EXPECT_EQ(cpus_per_rank(cores, 1), 1);
}

TEST(CpusPerRank, UnboundRanksShareTheirCpus) {
  // An unbound launch inside an 8-CPU job cgroup: 4 ranks with the same mask get 2 each, not the
  // node's online CPU count.
  std::vector<cpu_set_t> m(4, cpus({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(cpus_per_rank(m, 3), 2);
  // Oversubscribed (4 ranks, 2 CPUs): at least one thread.
  std::vector<cpu_set_t> over(4, cpus({0, 1}));
  EXPECT_EQ(cpus_per_rank(over, 0), 1);
  // Mixed: two ranks share CPUs 0-5, a third is bound to 6-7.
  std::vector<cpu_set_t> mixed{cpus({0, 1, 2, 3, 4, 5}), cpus({0, 1, 2, 3, 4, 5}), cpus({6, 7})};
  EXPECT_EQ(cpus_per_rank(mixed, 0), 3);
  EXPECT_EQ(cpus_per_rank(mixed, 2), 2);
  EXPECT_THROW(cpus_per_rank(mixed, 3), InternalError);  // a caller bug, not a user error
}

TEST(SlurmCrossCheck, AgreeingSrunStepHasNoMismatch) {
  FakeEnv env{{{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"},
               {"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "1"}}};
  EXPECT_TRUE(slurm_mismatches(topo(5, 8, 1, 4, 1, 2), env.fn()).empty());
}

TEST(SlurmCrossCheck, EveryDisagreementIsNamed) {
  FakeEnv env{{{"SLURM_STEP_ID", "3"}, {"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "8"},
               {"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "2"}}};
  auto m = slurm_mismatches(topo(5, 8, 1, 4, 1, 2), env.fn());
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], "SLURM_PROCID=4 but MPI world rank is 5");
  EXPECT_EQ(m[1], "SLURM_LOCALID=0 but MPI node-local rank is 1");
  EXPECT_EQ(m[2], "SLURM_NODEID=2 but MPI node index is 1");
}

TEST(SlurmCrossCheck, BatchStepAndMpirunLaunchesAreNotCompared) {
  // In the batch script (and under mpirun, whose daemons own the SLURM task variables) the
  // variables describe another launch.
  FakeEnv batch{{{"SLURM_STEP_ID", "batch"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}}};
  EXPECT_TRUE(slurm_mismatches(topo(3, 8, 3, 8, 0, 1), batch.fn()).empty());
  FakeEnv mpirun{{{"SLURM_STEP_ID", "1"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"},
                  {"OMPI_COMM_WORLD_SIZE", "8"}}};
  EXPECT_TRUE(slurm_mismatches(topo(3, 8, 3, 8, 0, 1), mpirun.fn()).empty());
  FakeEnv none;
  EXPECT_TRUE(slurm_mismatches(topo(3, 8, 3, 8, 0, 1), none.fn()).empty());
}

TEST(SlurmCrossCheck, NonIntegerVariableIsReported) {
  FakeEnv env{{{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "x1"}}};
  auto m = slurm_mismatches(topo(0, 1, 0, 1, 0, 1), env.fn());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], "SLURM_PROCID='x1' is not an integer");
}

TEST(SlurmCrossCheck, SingletonLaunchOfAMultiTaskStepIsDetected) {
  FakeEnv env{{{"SLURM_STEP_ID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "2"}}};
  EXPECT_TRUE(slurm_singleton_launch(topo(0, 1, 0, 1, 0, 1), env.fn()));
  EXPECT_FALSE(slurm_singleton_launch(topo(2, 4, 2, 4, 0, 1), env.fn()));
  FakeEnv one{{{"SLURM_STEP_ID", "0"}, {"SLURM_NTASKS", "1"}}};
  EXPECT_FALSE(slurm_singleton_launch(topo(0, 1, 0, 1, 0, 1), one.fn()));
}

TEST(MeshShape, ResolvesFillAndRejectsImpossibleShapes) {
  MeshShape s = mesh_shape_resolve(8, -1, 2);
  EXPECT_EQ(s.dp, 4);
  EXPECT_EQ(s.tp, 2);
  s = mesh_shape_resolve(8, 8, 1);
  EXPECT_EQ(s.dp, 8);
  try {
    mesh_shape_resolve(6, -1, 4);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("distributed.tp=4 does not divide the world size 6"),
              std::string::npos) << e.what();
  }
  try {
    mesh_shape_resolve(8, 3, 2);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("= 6 but the job has 8 ranks"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(mesh_shape_resolve(8, -1, 0), Error);
}

TEST(StopSignal, UsrOneAndTermSetTheFlag) {
  stop_signal_install();
  stop_signal_reset();
  EXPECT_FALSE(stop_requested());
  std::raise(SIGUSR1);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal_number(), SIGUSR1);
  stop_signal_reset();
  std::raise(SIGTERM);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal_number(), SIGTERM);
  stop_signal_reset();
}

TEST(Watchdog, FiresOnOverdueCollectiveWithItsName) {
  Watchdog& w = Watchdog::instance();
  std::string fired;
  std::mutex mu;
  w.set_on_timeout([&](const std::string& m) {
    std::lock_guard<std::mutex> l(mu);
    fired = m;
  });
  w.set_timeout(0.2);
  uint64_t id = w.enter("all_gather(BFloat16, 10 elements)", "dp", 1, 4);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> l(mu);
    if (!fired.empty()) break;
  }
  w.leave(id);
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_NE(fired.find("collective 'all_gather(BFloat16, 10 elements)' on group 'dp' (rank 1 of 4) "
                         "did not finish within 0.2 s"), std::string::npos) << fired;
  }
  // Finished collectives and async entries whose completion poll says done never fire.
  std::string fired_again;
  w.set_on_timeout([&](const std::string& m) {
    std::lock_guard<std::mutex> l(mu);
    fired_again = m;
  });
  { WatchdogScope quick("all_reduce", "world", 0, 2); }
  w.enter("async", "world", 0, 2, [] { return true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(w.in_flight(), 0u);
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_TRUE(fired_again.empty()) << fired_again;
  }
  w.set_timeout(600);
}

TEST(Log, FormatNamesRankHostAndLevel) {
  log_init(3, "gpu-node-7", LogLevel::Info, false);
  std::string line = log_format(LogLevel::Warn, "hello");
  EXPECT_NE(line.find("[r3/gpu-node-7] WARN hello"), std::string::npos) << line;
  EXPECT_EQ(line[0], '[');
  EXPECT_THROW(log_level_from_string("loud"), Error);
  EXPECT_EQ(log_level_from_string("debug"), LogLevel::Debug);
}
