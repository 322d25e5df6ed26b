// The `distributed.*` config keys owned by the distributed layer (mesh shape, backend, device,
// threads, watchdog timeout, SLURM cross-check policy).
#pragma once

#include <string>

#include "core/config.h"
#include "core/config_schema.h"

namespace omnitune {

// The keys every MPI program reads: device, CPU threads, SLURM cross-check.
void register_dist_config(ConfigSchema& schema);
// The keys of programs that run collectives over a DP x TP mesh (training, the launch check): the
// mesh shape, the collective backend and the watchdog. omnitune-generate has none of them: each
// rank holds a whole model and the ranks meet only in an unwatched barrier.
void register_mesh_config(ConfigSchema& schema);

// Settings read back from a loaded config, so the layer's code never spells key names twice.
struct DistSettings {
  int dp = -1;                    // -1: world size / tp
  int tp = 1;
  int dp_replicate = 1;           // HSDP replicas (1 = plain FSDP)
  std::string backend = "auto";   // auto | mpi | nccl
  std::string device = "auto";    // auto | cpu | cuda
  int cpu_threads = 0;            // 0: automatic
  double collective_timeout_s = 600;
  std::string slurm_check = "warn";
};

DistSettings dist_settings_from(const Config& cfg);

}  // namespace omnitune
