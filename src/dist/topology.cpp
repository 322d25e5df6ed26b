// Topology from MPI: node-local ranks come from MPI_Comm_split_type(SHARED), node indices from
// numbering the local leaders; this works the same under mpirun and srun --mpi=pmix.
#include "dist/topology.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "core/error.h"
#include "dist/mpi_check.h"

namespace omnitune {

int mpi_comm_rank(MPI_Comm c) {
  int r = 0;
  MPI_CHECK(MPI_Comm_rank(c, &r));
  return r;
}

int mpi_comm_size(MPI_Comm c) {
  int s = 1;
  MPI_CHECK(MPI_Comm_size(c, &s));
  return s;
}

Topology topology_from_mpi(MPI_Comm world) {
  Topology t;
  MPI_CHECK(MPI_Comm_rank(world, &t.world_rank));
  MPI_CHECK(MPI_Comm_size(world, &t.world_size));

  MPI_Comm node_comm;
  MPI_CHECK(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, t.world_rank, MPI_INFO_NULL, &node_comm));
  MPI_CHECK(MPI_Comm_rank(node_comm, &t.local_rank));
  MPI_CHECK(MPI_Comm_size(node_comm, &t.local_size));

  // Local leaders (local rank 0) form a communicator ordered by world rank; its rank is the
  // node index, broadcast to the rest of the node.
  MPI_Comm leaders;
  MPI_CHECK(MPI_Comm_split(world, t.local_rank == 0 ? 0 : MPI_UNDEFINED, t.world_rank, &leaders));
  int node = 0, nodes = 0;
  if (t.local_rank == 0) {
    MPI_CHECK(MPI_Comm_rank(leaders, &node));
    MPI_CHECK(MPI_Comm_size(leaders, &nodes));
    MPI_CHECK(MPI_Comm_free(&leaders));
  }
  int pair[2] = {node, nodes};
  MPI_CHECK(MPI_Bcast(pair, 2, MPI_INT, 0, node_comm));
  t.node_rank = pair[0];
  t.num_nodes = pair[1];

  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof mine, &mine) != 0) {  // unknown: every online CPU
    const int online = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int c = 0; c < online && c < CPU_SETSIZE; ++c) CPU_SET(c, &mine);
  }
  std::vector<cpu_set_t> masks(static_cast<size_t>(t.local_size));
  MPI_CHECK(MPI_Allgather(&mine, sizeof mine, MPI_BYTE, masks.data(), sizeof mine, MPI_BYTE, node_comm));
  t.cpus = cpus_per_rank(masks, t.local_rank);
  MPI_CHECK(MPI_Comm_free(&node_comm));

  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  t.host = host;
  return t;
}

int cpus_per_rank(const std::vector<cpu_set_t>& node_masks, int local_rank) {
  OT_CHECK(local_rank >= 0 && local_rank < static_cast<int>(node_masks.size()), "local rank ", local_rank, " of ",
           node_masks.size());
  const cpu_set_t& mine = node_masks[static_cast<size_t>(local_rank)];
  int sharing = 0;
  for (const cpu_set_t& m : node_masks) sharing += CPU_EQUAL(&m, &mine) ? 1 : 0;
  return std::max(1, CPU_COUNT(&mine) / sharing);
}

namespace {
// Compares one SLURM variable with the MPI value; appends a line on disagreement.
void check_var(const char* name, int mpi_value, const char* what,
               const std::function<const char*(const char*)>& env, std::vector<std::string>& out) {
  const char* v = env(name);
  if (!v || !*v) return;
  char* end = nullptr;
  long slurm_value = std::strtol(v, &end, 10);
  if (*end != '\0') {
    out.push_back(str_cat(name, "='", v, "' is not an integer"));
  } else if (slurm_value != mpi_value) {
    out.push_back(str_cat(name, "=", slurm_value, " but MPI ", what, " is ", mpi_value));
  }
}
}  // namespace

std::vector<std::string> slurm_mismatches(const Topology& t,
                                          const std::function<const char*(const char*)>& env) {
  std::vector<std::string> out;
  // Only a job step (srun) sets per-task values that must equal MPI's; a batch script that
  // calls mpirun inherits the batch step's variables, which describe a different launch.
  const char* step = env("SLURM_STEP_ID");
  if (!step || std::string(step) == "batch" || std::string(step) == "4294967294") return out;
  // Under mpirun inside an allocation, the SLURM task variables describe mpirun's daemons
  // (one per node), not the ranks: Open MPI's own variables are authoritative then.
  if (env("OMPI_COMM_WORLD_SIZE")) return out;
  check_var("SLURM_PROCID", t.world_rank, "world rank", env, out);
  check_var("SLURM_NTASKS", t.world_size, "world size", env, out);
  check_var("SLURM_LOCALID", t.local_rank, "node-local rank", env, out);
  check_var("SLURM_NODEID", t.node_rank, "node index", env, out);
  return out;
}

bool slurm_singleton_launch(const Topology& t,
                            const std::function<const char*(const char*)>& env) {
  const char* ntasks = env("SLURM_NTASKS");
  const char* step = env("SLURM_STEP_ID");
  if (!ntasks || !step || std::string(step) == "batch" || env("OMPI_COMM_WORLD_SIZE")) return false;
  return t.world_size == 1 && std::atoi(ntasks) > 1;
}

std::string topology_describe(const Topology& t) {
  return str_cat("rank ", t.world_rank, "/", t.world_size, " on node ", t.node_rank, "/",
                         t.num_nodes, " (", t.host, "), local rank ", t.local_rank, "/",
                         t.local_size);
}

}  // namespace omnitune
