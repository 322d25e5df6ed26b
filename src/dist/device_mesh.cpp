// DeviceMesh: two splits of the world communicator. Coordinates: tp_rank = world_rank % tp,
// dp_rank = world_rank / tp.
#include "dist/device_mesh.h"

#include "core/error.h"
#include "core/log.h"

namespace omnitune {

MeshShape mesh_shape_resolve(int world, int dp, int tp, int replicate) {
  OT_REQUIRE(tp >= 1, "distributed.tp=", tp, " must be at least 1");
  OT_REQUIRE(world % tp == 0, "distributed.tp=", tp, " does not divide the world size ", world,
             ": launch a multiple of ", tp, " ranks or change distributed.tp");
  MeshShape s;
  s.tp = tp;
  s.dp = dp == -1 ? world / tp : dp;
  OT_REQUIRE(s.dp >= 1 && s.dp * s.tp == world, "distributed.dp=", dp, " x distributed.tp=", tp,
             " = ", s.dp * s.tp, " but the job has ", world,
             " ranks: set distributed.dp=-1 to use all ranks, or launch dp x tp ranks");
  OT_REQUIRE(replicate >= 1 && s.dp % replicate == 0, "distributed.dp_replicate=", replicate,
             " must divide the data-parallel size ", s.dp, " (hybrid sharding: dp = replicas x shard size)");
  s.replicate = replicate;
  return s;
}

DeviceMesh::DeviceMesh(Comm& world, const Topology& topo, int dp, int tp, int replicate)
    : world_(world), shape_(mesh_shape_resolve(world.size(), dp, tp, replicate)) {
  tp_rank_ = world.rank() % shape_.tp;
  dp_rank_ = world.rank() / shape_.tp;
  if (shape_.tp > 1 && topo.local_size % shape_.tp != 0 && world.rank() == 0) {
    OT_LOG_WARN("tensor-parallel groups of ", shape_.tp, " ranks span nodes (", topo.local_size,
                " ranks per node): TP traffic will cross the network; use a TP size that "
                "divides the ranks per node");
  }
  // Split order is the same on every rank: TP groups first, then DP groups.
  tp_ = world.split(/*color=*/dp_rank_, /*key=*/tp_rank_, "tp");
  dp_ = world.split(/*color=*/tp_rank_, /*key=*/dp_rank_, "dp");
  if (shape_.replicate > 1) {
    const int S = shape_.shard(), r = dp_rank_ / S, s = dp_rank_ % S;
    if (S * shape_.tp > topo.local_size && world.rank() == 0)
      OT_LOG_WARN("hybrid sharding: a shard group of ", S, " x tp ", shape_.tp, " ranks spans nodes (",
                  topo.local_size, " ranks per node): set distributed.dp_replicate to the number of nodes");
    shard_ = dp_->split(/*color=*/r, /*key=*/s, "dp_shard");
    replicate_ = dp_->split(/*color=*/s, /*key=*/r, "dp_replicate");
  }
}

std::string DeviceMesh::describe() const {
  const std::string hsdp =
      shape_.replicate > 1 ? str_cat(" (hybrid: ", shape_.replicate, " replicas x ", shape_.shard(), " shards)") : "";
  return str_cat("dp ", shape_.dp, hsdp, " x tp ", shape_.tp, ": this rank dp_rank ", dp_rank_, ", tp_rank ",
                 tp_rank_);
}

}  // namespace omnitune
