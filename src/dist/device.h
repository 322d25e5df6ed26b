// Device choice for a rank: cuda:<local rank> when LibTorch has CUDA and a device exists (one rank
// per GPU; with per-task GPU binding each task sees one device), else CPU with a per-rank thread
// count that does not oversubscribe the node. Also builds the world Comm for that device.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "dist/comm.h"
#include "dist/dist_config.h"
#include "dist/topology.h"

namespace omnitune {

struct DeviceChoice {
  at::Device device = at::Device(at::kCPU);
  int cpu_threads = 1;  // intra-op threads set for this rank
  std::string reason;   // why this device, for the start-up log
};

// Picks the device (setting: auto | cpu | cuda) and sets LibTorch's thread count.
// cuda requested without a usable GPU is an Error.
DeviceChoice choose_device(const Topology& topo, const std::string& setting, int cpu_threads);

// Threads per rank when not configured: OMP_NUM_THREADS if set, else the rank's share of the CPUs
// it is bound to (Topology::cpus).
int default_cpu_threads(const Topology& topo);

// The world communicator for `device`: MpiComm for CPU, NcclComm for CUDA (backend: auto | mpi |
// nccl; a mismatch with the device or a missing NCCL build is an Error).
std::unique_ptr<Comm> make_world_comm(const std::string& backend, const at::Device& device);

// True when this build contains the NCCL backend.
bool nccl_available();

}  // namespace omnitune
