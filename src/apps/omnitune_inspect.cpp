// omnitune-inspect: checks a launch before real work. Prints where every rank runs (host, node,
// local rank, device, threads), cross-checks SLURM, builds the DP x TP mesh, runs the
// communicator self-test on the world and both mesh groups, and measures all-reduce bandwidth.
// Usage: srun --mpi=pmix omnitune-inspect [--config FILE] [--distributed.tp 2] ...
// With a preprocessed split directory as first argument it inspects shards instead
// (omnitune-inspect SHARDS_DIR [--sample N] [--image-out FILE]; see inspect_shards.h).
#include <ATen/Parallel.h>
#include <mpi.h>

#include <cstdio>
#include <cstring>

#include "apps/app_startup.h"
#include "apps/inspect_shards.h"
#include "core/log.h"
#include "dist/comm_selftest.h"
#include "dist/device_mesh.h"

using namespace omnitune;

namespace {

// Gathers one line per rank to rank 0, in rank order.
std::vector<std::string> gather_lines(const std::string& line, int rank, int size) {
  constexpr int kLen = 256;
  char mine[kLen] = {0};
  std::strncpy(mine, line.c_str(), kLen - 1);
  std::vector<char> all(rank == 0 ? size_t(kLen) * size : 0);
  MPI_Gather(mine, kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; rank == 0 && r < size; ++r) out.emplace_back(&all[size_t(r) * kLen]);
  return out;
}

void check_group(Comm& comm, const at::Device& dev) {
  SelftestResult r = comm_selftest(comm, dev);
  // Every rank learns whether any rank failed, so all exit the same way.
  at::Tensor failed = at::tensor({static_cast<int64_t>(r.failures.size())});
  if (dev.is_cuda()) failed = failed.to(dev);
  comm.all_reduce(failed, ReduceOp::Sum);
  int64_t nfail = failed.cpu().item<int64_t>();
  for (const auto& f : r.failures) OT_LOG_ERROR("self-test failed on group '", comm.name(), "': ", f);
  OT_REQUIRE(nfail == 0, "communicator self-test failed on group '", comm.name(), "' (", nfail,
             " failed check(s) across ranks; see the ERROR lines above)");
  OT_LOG_INFO("group '", comm.name(), "' (", comm.size(), " ranks, ", comm.backend(), "): ",
              r.checks, " collective checks passed");
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    if (inspect_shards_requested(ac, av)) return inspect_shards_main(ac, av);
    auto ctx = app_startup(rt, ac, av,
                           "Checks an MPI/SLURM launch: rank placement, devices, communicator "
                           "self-test and all-reduce bandwidth.\n"
                           "omnitune-inspect SPLIT_DIR [--sample N] [--image-out FILE] inspects "
                           "preprocessed shards instead: the split's counts, sample N decoded back "
                           "to text with its training targets, and its image written as PNG.",
                           register_mesh_config);
    if (!ctx) return 0;
    const Topology& topo = rt.topology();
    auto lines = gather_lines(
        str_cat(topology_describe(topo), ", device ", ctx->device.reason, ", ",
                        at::get_num_threads(), " thread(s)"),
        topo.world_rank, topo.world_size);
    for (const auto& l : lines) OT_LOG_INFO("  ", l);

    DeviceMesh mesh(*ctx->world, topo, ctx->dist.dp, ctx->dist.tp, ctx->dist.dp_replicate);
    OT_LOG_INFO("mesh ", mesh.describe());
    check_group(mesh.world(), ctx->device.device);
    check_group(mesh.dp(), ctx->device.device);
    check_group(mesh.tp(), ctx->device.device);
    if (mesh.dp_replicate()) {  // hybrid sharding: the groups FSDP shards in and replicates across
      check_group(mesh.dp_shard(), ctx->device.device);
      check_group(*mesh.dp_replicate(), ctx->device.device);
    }

    auto rows = comm_allreduce_bandwidth(*ctx->world, ctx->device.device,
                                         {1 << 16, 1 << 20, 16 << 20}, 5);
    OT_LOG_INFO("all_reduce fp32 on '", ctx->world->name(), "' (", ctx->world->size(), " ranks):");
    OT_LOG_INFO("       bytes      time_us   algbw_GB/s   busbw_GB/s");
    for (const auto& r : rows) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%12lld %12.1f %12.3f %12.3f", static_cast<long long>(r.bytes),
                    r.seconds * 1e6, r.algbw_gbs, r.busbw_gbs);
      OT_LOG_INFO(buf);
    }
    const CommStats& st = ctx->world->stats();
    OT_LOG_INFO("world comm moved ", st.total_bytes(), " bytes in ",
                st.calls_of(CommOp::AllReduce), " all_reduce / ", st.calls_of(CommOp::AllGather),
                " all_gather / ", st.calls_of(CommOp::ReduceScatter), " reduce_scatter calls");
    OT_LOG_INFO("omnitune-inspect: OK (", topo.world_size, " ranks, ", topo.num_nodes, " node(s))");
    return 0;
  });
}
