#!/usr/bin/env bash
# Fine-tuning (SFT or LoRA, by the recipe): omnitune-train on every task, one rank per GPU, over
# the recipe's DP x TP mesh. Checkpoints and the export go to the run directory.
#   sbatch scripts/slurm/finetune.sh [--KEY VALUE ...]                 (from the repository root)
#   e.g. CONFIG=configs/gemma3_12b_medpix_lora.yaml sbatch --nodes=2 scripts/slurm/finetune.sh
#        sbatch scripts/slurm/finetune.sh --optimizer.lr 1e-4 --step_scheduler.max_steps 2000
# Before the time limit SLURM sends SIGUSR1 (--signal below): every rank finishes its step, writes
# a checkpoint and exits 2; the job then requeues itself (same job id, same run directory) and
# continues from the checkpoint's LATEST pointer. A rerun with the same RUN_DIR continues too.
# Environment (defaults in scripts/slurm/lib.sh and docs/cluster.md): CONFIG
# [configs/gemma3_4b_medpix_lora.yaml], CONTAINER_IMAGE, MOUNTS, OMNITUNE_BIN_DIR, RUN_ROOT, RUN_DIR,
# RESUME [auto: continue from RUN_DIR's LATEST when there is one; "" = refuse an existing run],
# REQUEUE_ON_STOP [1], DRY_RUN=1 (print the srun lines only).
#SBATCH --job-name=omnitune-finetune
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --signal=USR1@600
#SBATCH --requeue
#SBATCH --output=%x-%j.out
#SBATCH --open-mode=append
##SBATCH --account=YOUR_ACCOUNT
set -euo pipefail

# sbatch runs a copy of this file from its spool directory: find the repository from
# OMNITUNE_ROOT, this file's own place (when run directly), or the submit directory.
if [ -z "${OMNITUNE_ROOT:-}" ]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [ -f "$here/lib.sh" ]; then OMNITUNE_ROOT=$(cd "$here/../.." && pwd); else OMNITUNE_ROOT=${SLURM_SUBMIT_DIR:-$PWD}; fi
fi
# shellcheck source=scripts/slurm/lib.sh
source "$OMNITUNE_ROOT/scripts/slurm/lib.sh" || { echo "cannot read $OMNITUNE_ROOT/scripts/slurm/lib.sh: set OMNITUNE_ROOT" >&2; exit 1; }

CONFIG=${CONFIG:-configs/gemma3_4b_medpix_lora.yaml}
RESUME=${RESUME-auto}
ot_setup finetune
# The run directory of the job holds the checkpoints, metrics and export (train.run_dir), so a
# requeued job (same id, same RUN_DIR) finds its own LATEST. User arguments come last and win.
ot_program_args --train.run_dir "$RUN_DIR" --resume "$RESUME" "$@"
ot_resolve_config omnitune-train "${OT_ARGS[@]}"
if ! ot_dry_run && [ -f "$RUN_DIR/checkpoints/LATEST" ]; then
  ot_log "continuing from checkpoint $(cat "$RUN_DIR/checkpoints/LATEST") (restart ${SLURM_RESTART_COUNT:-0})"
fi
ot_srun_cmd -- omnitune-train "${OT_ARGS[@]}"
rc=0
ot_run || rc=$?
# Exit status 2: the ranks stopped on SIGUSR1/SIGTERM with a checkpoint written.
if [ "$rc" = 2 ] && [ "${REQUEUE_ON_STOP:-1}" = 1 ]; then ot_requeue; fi
if [ "$rc" = 0 ]; then ot_log "finished: metrics $RUN_DIR/metrics.jsonl, checkpoints $RUN_DIR/checkpoints"; fi
exit "$rc"
