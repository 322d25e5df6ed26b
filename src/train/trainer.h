// The training loop behind omnitune-train (issue 6): data loader -> ShardedGemma3 forward/backward
// per micro-batch -> sharded AdamW step with the LR schedule, per-step metrics and progress on
// rank 0, validation every N steps, checkpoints every N steps, at the end and when SLURM signals
// (SIGUSR1/SIGTERM), and exact resume (--resume auto|PATH).
#pragma once

#include <string>

#include "core/config.h"
#include "dist/comm.h"
#include "dist/device_mesh.h"

namespace omnitune {

struct TrainOutcome {
  int64_t steps_done = 0;
  bool stopped_early = false;      // before max_steps: a stop signal or train.stop_at_step
  bool stopped_by_signal = false;  // a rank got SIGUSR1/SIGTERM (omnitune-train then exits 2)
  std::string last_checkpoint;
  std::string export_dir;  // checkpoint.export at the end of the run, "" when none
  double last_loss = 0, last_val_loss = -1;
};

// `resume`: "" (fresh start; an existing checkpoint directory is an error), "auto" (LATEST if
// any), or a checkpoint path. Collective over the world.
TrainOutcome run_training(const Config& cfg, Comm& world, DeviceMesh& mesh, const at::Device& device,
                          const std::string& resume);

}  // namespace omnitune
