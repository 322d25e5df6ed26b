// Device and backend selection; the only place that decides between MPI and NCCL.
#include "dist/device.h"

#include <mpi.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "dist/mpi_comm.h"
#ifdef OMNITUNE_HAVE_NCCL
#include "dist/nccl_comm.h"
#endif

namespace omnitune {

bool nccl_available() {
#ifdef OMNITUNE_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

int default_cpu_threads(const Topology& topo) {
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(omp);
    if (n > 0) return n;
  }
  return topo.cpus;
}

DeviceChoice choose_device(const Topology& topo, const std::string& setting, int cpu_threads) {
  DeviceChoice c;
  bool cuda = torch::cuda::is_available();
  int ngpu = cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (setting == "cuda" || (setting == "auto" && ngpu > 0)) {
    OT_REQUIRE(ngpu > 0, "distributed.device=cuda but ",
               cuda ? "no CUDA device is visible" : "this LibTorch was built without CUDA",
               ": use distributed.device=cpu, or build with the `cuda` preset on a GPU node");
    // With one GPU per task (--gpus-per-task / CUDA_VISIBLE_DEVICES per rank) each rank sees
    // one device: index 0. Otherwise ranks of a node share the list: local rank picks.
    int index = ngpu == 1 ? 0 : topo.local_rank % ngpu;
    OT_REQUIRE(ngpu == 1 || topo.local_size <= ngpu, topo.local_size, " ranks on node ",
               topo.host, " share ", ngpu, " GPUs: start one rank per GPU (srun --ntasks-per-node=",
               ngpu, ")");
    c.device = at::Device(at::kCUDA, index);
    c.reason = str_cat("cuda:", index, " (", ngpu, " visible, local rank ",
                               topo.local_rank, ")");
  } else {
    c.device = at::Device(at::kCPU);
    c.reason = setting == "cpu" ? "cpu (distributed.device=cpu)" : "cpu (no CUDA device)";
  }
  c.cpu_threads = cpu_threads > 0 ? cpu_threads : default_cpu_threads(topo);
  at::set_num_threads(c.cpu_threads);
  return c;
}

std::unique_ptr<Comm> make_world_comm(const std::string& backend, const at::Device& device) {
  std::string b = backend;
  if (b == "auto") b = device.is_cuda() ? "nccl" : "mpi";
  if (b == "mpi") {
    OT_REQUIRE(device.is_cpu(), "distributed.backend=mpi moves CPU tensors only, but the device is ",
               device, ": use distributed.backend=nccl (or auto)");
    return MpiComm::world("world");
  }
  OT_REQUIRE(b == "nccl", "unknown distributed.backend '", backend, "': use auto, mpi or nccl");
  OT_REQUIRE(device.is_cuda(), "distributed.backend=nccl needs a CUDA device, but the device is ",
             device, ": use distributed.backend=mpi (or auto)");
#ifdef OMNITUNE_HAVE_NCCL
  return std::make_unique<NcclComm>(MPI_COMM_WORLD, "world", device.index());
#else
  OT_FAIL("distributed.backend=nccl but this build has no NCCL backend: configure with the "
          "`cuda` preset where CUDA and NCCL are installed");
#endif
}

}  // namespace omnitune
