// A start-up self-test of a communicator: every collective on small tensors whose correct result
// each rank can compute by itself, plus an all-reduce bandwidth table. Run by omnitune-inspect
// (and available to any app) so a broken fabric or launch shows up before hours of training.
#pragma once

#include <string>
#include <vector>

#include "dist/comm.h"

namespace omnitune {

struct SelftestResult {
  std::vector<std::string> failures;  // empty = every check passed
  int checks = 0;
};

// Collective over `comm`. Tensors are created on `device`.
SelftestResult comm_selftest(Comm& comm, const at::Device& device);

struct BandwidthRow {
  int64_t bytes = 0;
  double seconds = 0;     // mean per all-reduce
  double algbw_gbs = 0;   // bytes / time
  double busbw_gbs = 0;   // algbw * 2 (n-1) / n, nccl-tests' convention for all-reduce
};

// Times fp32 all-reduces of the given sizes (collective).
std::vector<BandwidthRow> comm_allreduce_bandwidth(Comm& comm, const at::Device& device,
                                                   const std::vector<int64_t>& sizes_bytes,
                                                   int iters);

}  // namespace omnitune
