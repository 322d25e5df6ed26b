// Schema entries of the distributed layer: one place for their names, types, defaults and docs.
#include "dist/dist_config.h"

namespace omnitune {

void register_mesh_config(ConfigSchema& s) {
  s.add({"distributed.dp", ConfigType::Int, "-1",
         "data-parallel (FSDP) size; -1 = world size / tp", {}});
  s.add({"distributed.tp", ConfigType::Int, "1",
         "tensor-parallel size (innermost: the ranks of one TP group share a node)", {}});
  s.add({"distributed.dp_replicate", ConfigType::Int, "1",
         "hybrid sharding (HSDP): replicas of the model across the DP group (typically the number of "
         "nodes); FSDP shards inside each replica; 1 = plain FSDP over all of DP", {}});
  s.add({"distributed.backend", ConfigType::String, "auto",
         "collective backend: nccl for CUDA tensors, mpi for CPU tensors; auto picks by device",
         {"auto", "mpi", "nccl"}});
  s.add({"distributed.collective_timeout_s", ConfigType::Float, "600",
         "watchdog: a collective running longer than this aborts the job naming op, group and rank", {}});
}

void register_dist_config(ConfigSchema& s) {
  s.add({"distributed.device", ConfigType::String, "auto",
         "compute device: cuda:<local rank> when CUDA is usable, else cpu; auto picks",
         {"auto", "cpu", "cuda"}});
  s.add({"distributed.cpu_threads", ConfigType::Int, "0",
         "intra-op threads per rank on CPU; 0 = OMP_NUM_THREADS if set, else the CPUs the rank is bound to, shared with the node's ranks bound to the same ones", {}});
  s.add({"distributed.slurm_check", ConfigType::String, "warn",
         "what to do when SLURM_PROCID/LOCALID/NTASKS/NODEID disagree with MPI",
         {"warn", "error", "off"}});
}

DistSettings dist_settings_from(const Config& cfg) {
  DistSettings d;
  if (cfg.schema().find("distributed.dp")) {  // programs without a mesh keep the defaults
    d.dp = static_cast<int>(cfg.get_int("distributed.dp"));
    d.tp = static_cast<int>(cfg.get_int("distributed.tp"));
    d.dp_replicate = static_cast<int>(cfg.get_int("distributed.dp_replicate"));
    d.backend = cfg.get_string("distributed.backend");
    d.collective_timeout_s = cfg.get_float("distributed.collective_timeout_s");
  }
  d.device = cfg.get_string("distributed.device");
  d.cpu_threads = static_cast<int>(cfg.get_int("distributed.cpu_threads"));
  d.slurm_check = cfg.get_string("distributed.slurm_check");
  return d;
}

}  // namespace omnitune
