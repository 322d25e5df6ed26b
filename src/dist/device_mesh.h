// DeviceMesh: world = DP x TP with TP innermost, so the ranks of one TP group are consecutive
// world ranks and share a node (DESIGN.md §4). Exposes both groups as Comms and this rank's
// coordinates. A mesh that cannot work is an Error raised on every rank before any collective.
// Hybrid sharding (HSDP) splits DP further into replicate x shard (shard inner): FSDP shards
// over dp_shard() (inside a node) and all-reduces gradients over dp_replicate() (across nodes).
#pragma once

#include <memory>
#include <string>

#include "dist/comm.h"
#include "dist/topology.h"

namespace omnitune {

struct MeshShape {
  int dp = 1;
  int tp = 1;
  int replicate = 1;  // HSDP replicas; dp = replicate * shard
  int shard() const { return dp / replicate; }
};

// Resolves dp = -1 to world / tp and validates (world divisible by tp, dp * tp == world,
// replicate divides dp). Pure function: the same answer on every rank, so a bad shape fails
// everywhere at once.
MeshShape mesh_shape_resolve(int world_size, int dp, int tp, int replicate = 1);

class DeviceMesh {
 public:
  // Collective over `world`. `topo` lets it warn when a TP group would span nodes.
  DeviceMesh(Comm& world, const Topology& topo, int dp, int tp, int replicate = 1);

  const MeshShape& shape() const { return shape_; }
  int dp_rank() const { return dp_rank_; }
  int tp_rank() const { return tp_rank_; }
  Comm& world() { return world_; }
  Comm& dp() { return *dp_; }   // ranks with the same tp_rank
  Comm& tp() { return *tp_; }   // ranks with the same dp_rank (consecutive world ranks)
  // FSDP groups: dp() itself unless hybrid sharding is on.
  Comm& dp_shard() { return shard_ ? *shard_ : *dp_; }
  Comm* dp_replicate() { return replicate_.get(); }

  // "dp 2 x tp 2: this rank dp_rank 1, tp_rank 0".
  std::string describe() const;

 private:
  Comm& world_;
  MeshShape shape_;
  int dp_rank_ = 0;
  int tp_rank_ = 0;
  std::unique_ptr<Comm> dp_;
  std::unique_ptr<Comm> tp_;
  std::unique_ptr<Comm> shard_, replicate_;  // only with replicate > 1
};

}  // namespace omnitune
