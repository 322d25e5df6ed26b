// DeviceMesh under mpirun: DP and TP groups have the documented membership (TP innermost), and
// collectives inside each group reduce over exactly those ranks. Under 4 ranks this is the 2x2
// mesh; under 2 ranks, 1x2 and 2x1. Also the topology's CPUs per rank: the node's ranks together
// ask for no more CPUs than the node has (bound under -np 2, oversubscribed under -np 4).
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>

#include <thread>

#include "core/error.h"
#include "dist/device_mesh.h"
#include "dist/mpi_comm.h"

using namespace omnitune;

namespace {

Topology& topo() {
  static Topology t = topology_from_mpi(MPI_COMM_WORLD);
  return t;
}

// World ranks of the members of `g`, in group-rank order.
std::vector<int64_t> members(Comm& g, int world_rank) {
  at::Tensor in = at::full({1}, world_rank, at::kLong);
  at::Tensor out = at::empty({g.size()}, at::kLong);
  g.all_gather(in, out);
  return std::vector<int64_t>(out.data_ptr<int64_t>(), out.data_ptr<int64_t>() + g.size());
}

void check_mesh(int tp) {
  auto world = MpiComm::world();
  const int me = world->rank(), n = world->size();
  DeviceMesh mesh(*world, topo(), -1, tp);
  ASSERT_EQ(mesh.shape().tp, tp);
  ASSERT_EQ(mesh.shape().dp, n / tp);
  EXPECT_EQ(mesh.tp_rank(), me % tp);
  EXPECT_EQ(mesh.dp_rank(), me / tp);
  // TP group: consecutive world ranks of my DP row.
  std::vector<int64_t> want_tp, want_dp;
  for (int k = 0; k < tp; ++k) want_tp.push_back(mesh.dp_rank() * tp + k);
  for (int k = 0; k < n / tp; ++k) want_dp.push_back(k * tp + mesh.tp_rank());
  EXPECT_EQ(members(mesh.tp(), me), want_tp);
  EXPECT_EQ(members(mesh.dp(), me), want_dp);
  EXPECT_EQ(mesh.tp().name(), "tp");
  EXPECT_EQ(mesh.dp().name(), "dp");
  // A sum inside the DP group adds exactly its members.
  at::Tensor t = at::full({2}, me, at::kFloat);
  mesh.dp().all_reduce(t);
  double want = 0;
  for (auto r : want_dp) want += r;
  EXPECT_EQ(t[1].item<double>(), want);
}

}  // namespace

TEST(Topology, RanksOfANodeShareItsCpusWithoutOversubscribing) {
  const Topology& t = topo();
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  EXPECT_GE(t.cpus, 1);
  EXPECT_LE(t.cpus, CPU_COUNT(&mine));  // never more than this rank may run on
  int total = 0;
  MPI_Allreduce(&t.cpus, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);  // one node here
  const int online = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_LE(total, std::max(online, t.world_size)) << "at least one thread per rank when oversubscribed";
}

TEST(DeviceMesh, PureDataParallel) { check_mesh(1); }

TEST(DeviceMesh, TensorParallelTwoIsInnermost) {
  if (topo().world_size % 2 != 0) GTEST_SKIP() << "needs an even world size";
  check_mesh(2);  // -np 4: the 2x2 mesh; -np 2: dp 1 x tp 2
}

TEST(DeviceMesh, PureTensorParallel) { check_mesh(topo().world_size); }

TEST(DeviceMesh, ImpossibleShapeFailsOnEveryRankBeforeAnyCollective) {
  auto world = MpiComm::world();
  world->reset_stats();
  const int n = world->size();
  // tp that does not divide the world, and dp x tp != world: Error on every rank, no traffic.
  EXPECT_THROW(DeviceMesh(*world, topo(), -1, n + 1), Error);
  EXPECT_THROW(DeviceMesh(*world, topo(), n, 2), Error);
  EXPECT_EQ(world->stats().total_bytes(), 0u);
  EXPECT_EQ(world->stats().calls_of(CommOp::Barrier), 0u);
}
