#!/usr/bin/env bash
# Multi-node generation: omnitune-generate --config on every task (one rank per GPU, one model
# copy per rank), answers of a preprocessed split or a prompts JSONL merged into one JSONL in
# input order, then scored (<output>.eval.json).
#   sbatch scripts/slurm/generate.sh [--generate.KEY VALUE ...]          (from the repository root)
#   e.g. sbatch --nodes=4 scripts/slurm/generate.sh --generate.adapter runs/lora/export-peft
# A run stopped by the time-limit signal keeps its answers and requeues itself; the requeued job
# (or any rerun of the same command) generates only what is missing.
# Environment (defaults in scripts/slurm/lib.sh and docs/cluster.md): CONFIG
# [configs/generate_medpix.yaml], CONTAINER_IMAGE, MOUNTS, OMNITUNE_BIN_DIR, RUN_ROOT,
# REQUEUE_ON_STOP [1], DRY_RUN=1 (print the srun lines only).
#SBATCH --job-name=omnitune-generate
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --signal=USR1@300
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

CONFIG=${CONFIG:-configs/generate_medpix.yaml}
ot_setup generate
ot_program_args "$@"
ot_resolve_config omnitune-generate "${OT_ARGS[@]}"
ot_srun_cmd -- omnitune-generate "${OT_ARGS[@]}"
rc=0
ot_run || rc=$?
# Exit status 2: the ranks stopped on SIGUSR1 (--signal above) with their answers saved.
if [ "$rc" = 2 ] && [ "${REQUEUE_ON_STOP:-1}" = 1 ]; then ot_requeue; fi
exit "$rc"
