// Rank topology: where this process sits in the job (world rank, node, node-local rank), derived
// from MPI alone, then cross-checked against what SLURM says so a broken launch (srun without
// --mpi=pmix starts N singletons that all believe they are rank 0) is caught before any work.
#pragma once

#include <mpi.h>
#include <sched.h>

#include <functional>
#include <string>
#include <vector>

namespace omnitune {

struct Topology {
  int world_rank = 0;   // 0 .. world_size-1
  int world_size = 1;
  int local_rank = 0;   // rank among the processes of this node (shared-memory split)
  int local_size = 1;   // processes on this node
  int node_rank = 0;    // index of this node, 0 .. num_nodes-1, ordered by lowest world rank
  int num_nodes = 1;
  std::string host;     // this node's hostname
  int cpus = 1;         // CPUs for this rank's threads (cpus_per_rank)
};

// The CPUs a rank should run its threads on: those it may run on (its affinity mask), divided
// among the node's ranks that have the very same mask. A binding launcher (srun --cpus-per-task,
// mpirun --bind-to core) gives each rank its own CPUs; an unbound one gives every rank the whole
// node or job cgroup, to share. Not std::thread::hardware_concurrency(): that counts every online
// CPU of the node, also those SLURM did not allot to the job. At least 1.
int cpus_per_rank(const std::vector<cpu_set_t>& node_masks, int local_rank);

// Computes the topology over `world` (collective: every rank must call it).
Topology topology_from_mpi(MPI_Comm world);

// One line per disagreement between MPI's view and SLURM_PROCID / SLURM_LOCALID / SLURM_NTASKS /
// SLURM_NODEID (absent variables are not checked). `env` looks a variable up (nullptr = unset);
// it is a parameter so tests can feed fake environments.
std::vector<std::string> slurm_mismatches(const Topology& topo,
                                          const std::function<const char*(const char*)>& env);

// True when SLURM says the step has N > 1 tasks but MPI sees a world of one: the classic
// "srun without PMI" launch, where every task would write the same files as rank 0.
bool slurm_singleton_launch(const Topology& topo,
                            const std::function<const char*(const char*)>& env);

// Human summary: "rank 3/8 on node 1/2 (gpu-node-07), local rank 1/4".
std::string topology_describe(const Topology& topo);

}  // namespace omnitune
