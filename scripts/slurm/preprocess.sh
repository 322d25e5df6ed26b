#!/usr/bin/env bash
# Preprocessing on CPU nodes: omnitune-preprocess on every task of the allocation (MPI ranks
# across nodes split the shards), a raw dataset split -> HDF5 shards + manifest.json.
#   sbatch scripts/slurm/preprocess.sh [--preprocess.KEY VALUE ...]      (from the repository root)
#   e.g. sbatch scripts/slurm/preprocess.sh --preprocess.split validation \
#          --preprocess.input /data/medpix/validation.parquet
# Edit the #SBATCH lines for your cluster (or override them on the sbatch command line).
# Environment (defaults in scripts/slurm/lib.sh and docs/cluster.md): CONFIG
# [configs/preprocess_medpix.yaml], CONTAINER_IMAGE (e.g. the CPU image of containers/), MOUNTS,
# OMNITUNE_BIN_DIR, RUN_ROOT, DRY_RUN=1 (print the srun lines only).
#SBATCH --job-name=omnitune-preprocess
#SBATCH --partition=cpu
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=%x-%j.out
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

CONFIG=${CONFIG:-configs/preprocess_medpix.yaml}
ot_setup preprocess
ot_program_args "$@"
ot_resolve_config omnitune-preprocess "${OT_ARGS[@]}"
ot_srun_cmd -- omnitune-preprocess "${OT_ARGS[@]}"
ot_run
