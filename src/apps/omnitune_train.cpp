// omnitune-train: fine-tunes a Gemma 3 model (SFT or LoRA) on preprocessed shards over a DP x TP
// mesh. What `sbatch scripts/slurm/finetune.sh` runs on every rank.
//   mpirun -np 2 omnitune-train --config configs/tiny_lora.yaml [--resume auto] [--a.b value ...]
// Exit status: 0 finished (or stopped at train.stop_at_step), 2 stopped by SIGUSR1/SIGTERM with a
// checkpoint written (scripts/slurm/finetune.sh requeues on 2, like omnitune-generate), 1 error.
#include "apps/app_startup.h"
#include "core/log.h"
#include "dist/device_mesh.h"
#include "dist/stop_signal.h"
#include "train/train_config.h"
#include "train/trainer.h"

using namespace omnitune;

int main(int argc, char** argv) {
  // Before MPI_Init: a SLURM signal (USR1/TERM) during start-up is a stop request, not a kill.
  stop_signal_install();
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    auto ctx = app_startup(rt, ac, av,
                           "Fine-tunes a Gemma 3 model (SFT or LoRA) on omnitune-preprocess shards over a "
                           "DP x TP mesh, with checkpoints, exact resume and Hugging Face export.",
                           register_train_sections);
    if (!ctx) return 0;
    DeviceMesh mesh(*ctx->world, rt.topology(), ctx->dist.dp, ctx->dist.tp, ctx->dist.dp_replicate);
    TrainOutcome out = run_training(ctx->config, *ctx->world, mesh, ctx->device.device, ctx->config.get_string("resume"));
    return out.stopped_by_signal ? 2 : 0;
  });
}
