# shellcheck shell=bash
# Functions shared by the sbatch templates (preprocess.sh, finetune.sh, generate.sh): the run
# directory and its logs, the resolved config copy, the pyxis container flags, the srun line,
# NCCL defaults, and a dry-run mode. Sourced, never executed. Every setting is an environment
# variable with a default (docs/cluster.md lists them); user values are passed as arguments,
# quoted, never eval'd.
#
#   DRY_RUN=1         print the exact commands (srun lines, exports) instead of running them
#   CONFIG            the YAML recipe (each template has its own default)
#   CONTAINER_IMAGE   pyxis image (a .sqsh path or an enroot URI); unset = the host build
#   MOUNTS            extra container mounts SRC:DST[:FLAGS],... (the work dir is always mounted)
#   CONTAINER_WORKDIR the directory jobs run in, inside and outside the container [$PWD]
#   PYXIS_CONTAINER_NAME  pyxis --container-name: one container reused by the job's steps [unset]
#   OMNITUNE_BIN_DIR  where the omnitune executables are [/opt/omnitune/bin in a container, else
#                     <repo>/build/cuda/bin when it exists, else <repo>/build/cpu/bin]
#   RUN_ROOT          run directories go to $RUN_ROOT/<kind>-<job id> [runs/slurm]; RUN_DIR overrides
#   RANK_LOGS         1: every rank writes <run dir>/logs/rank<N>.log [1]
#   SRUN_MPI          srun --mpi plugin [pmix]; `srun --mpi=list` shows what the cluster has
#   SRUN_EXTRA_ARGS   more srun options, split on whitespace (e.g. "--cpu-bind=cores") [unset]
#   OMNITUNE_NCCL_DEFAULTS  auto: export the InfiniBand NCCL defaults below when GPUs are
#                     present; 1: always; 0: never. A variable the user set is never changed. [auto]
#   HDF5_USE_FILE_LOCKING  [FALSE]: shards are written once and then only read; Lustre/GPFS
#                     mounts without flock support make HDF5 fail to open files otherwise

# NCCL defaults for InfiniBand clusters (name=value). NCCL_DEBUG=WARN puts NCCL's own error
# messages in the job log; NCCL_IB_TIMEOUT=22 (4.096 us * 2^22, ~17 s per IB retry) rides out
# congestion on large fabrics that NCCL's lower default turns into "transport retry count
# exceeded". Cluster-specific ones (NCCL_SOCKET_IFNAME, NCCL_IB_HCA) are for the user to set.
OT_NCCL_DEFAULTS=(NCCL_DEBUG=WARN NCCL_IB_TIMEOUT=22)

ot_log() {
  local line
  line="[omnitune $(date '+%F %T')] $*"
  printf '%s\n' "$line" >&2
  if [ -n "${OT_JOB_LOG:-}" ] && [ -d "$(dirname "$OT_JOB_LOG")" ]; then printf '%s\n' "$line" >>"$OT_JOB_LOG"; fi
}

ot_die() {
  ot_log "ERROR: $*"
  exit 1
}

ot_dry_run() { [ "${DRY_RUN:-0}" = 1 ]; }

# ot_quote ARGS...: the arguments as one shell-quoted line (what a user can paste and run):
# plain words stay as they are, anything else is single-quoted.
ot_quote() {
  local out="" a q="'"
  for a in "$@"; do
    if [[ -n $a && $a =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+="$a "
    else out+="'${a//$q/$q\\$q$q}' "; fi
  done
  printf '%s' "${out% }"
}

# ot_gpus_present: this node has GPUs for the job (SLURM's view, else nvidia-smi).
ot_gpus_present() {
  if [ -n "${SLURM_GPUS_ON_NODE:-}" ] && [ "${SLURM_GPUS_ON_NODE}" != 0 ]; then return 0; fi
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
}

# ot_nccl_env: exports OT_NCCL_DEFAULTS that the user has not set, when GPUs are present (or
# OMNITUNE_NCCL_DEFAULTS=1); logs every NCCL_* variable in effect.
ot_nccl_env() {
  local mode=${OMNITUNE_NCCL_DEFAULTS:-auto} kv name
  if [ "$mode" = 1 ] || { [ "$mode" = auto ] && ot_gpus_present; }; then
    for kv in "${OT_NCCL_DEFAULTS[@]}"; do
      name=${kv%%=*}
      if [ -z "${!name+x}" ]; then
        export "${kv?}"
        if ot_dry_run; then printf 'export %s\n' "$(ot_quote "$kv")"; fi
      fi
    done
  fi
  local set_vars
  set_vars=$(env | grep -E '^NCCL_' | sort | tr '\n' ' ' || true)
  ot_log "NCCL environment: ${set_vars:-(none)}"
}

# ot_setup KIND: resolves the settings above, creates the run directory (not in a dry run) and
# logs what the job is. Sets OT_KIND, OT_JOB_ID, RUN_DIR, OT_JOB_LOG, OMNITUNE_BIN_DIR, and the
# container settings.
ot_setup() {
  OT_KIND=$1
  OT_JOB_ID=${SLURM_JOB_ID:-local-$(date +%Y%m%d-%H%M%S)}
  if ot_dry_run; then OT_JOB_ID=${SLURM_JOB_ID:-dryrun}; fi
  CONTAINER_IMAGE=${CONTAINER_IMAGE:-}
  MOUNTS=${MOUNTS:-}
  CONTAINER_WORKDIR=${CONTAINER_WORKDIR:-$PWD}
  PYXIS_CONTAINER_NAME=${PYXIS_CONTAINER_NAME:-}
  if [ -z "${OMNITUNE_BIN_DIR:-}" ]; then
    if [ -n "$CONTAINER_IMAGE" ]; then OMNITUNE_BIN_DIR=/opt/omnitune/bin
    elif [ -d "$OMNITUNE_ROOT/build/cuda/bin" ]; then OMNITUNE_BIN_DIR=$OMNITUNE_ROOT/build/cuda/bin
    else OMNITUNE_BIN_DIR=$OMNITUNE_ROOT/build/cpu/bin; fi
  fi
  local root=${RUN_ROOT:-runs/slurm}
  case $root in /*) ;; *) root=$PWD/$root ;; esac
  RUN_DIR=${RUN_DIR:-$root/$OT_KIND-$OT_JOB_ID}
  export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}
  # Threads per rank (LibTorch intra-op, image decoding) follow the CPUs SLURM gives each task.
  if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SLURM_CPUS_PER_TASK}; fi
  OT_JOB_LOG=""
  if ot_dry_run; then
    ot_log "DRY_RUN=1: printing the commands of this $OT_KIND job instead of running them"
  else
    mkdir -p "$RUN_DIR/logs" || ot_die "cannot create the run directory $RUN_DIR (set RUN_DIR or RUN_ROOT)"
    OT_JOB_LOG=$RUN_DIR/job.log
  fi
  ot_log "omnitune $OT_KIND job $OT_JOB_ID: ${SLURM_JOB_NUM_NODES:-1} node(s) (${SLURM_JOB_NODELIST:-$(hostname -s)}), ${SLURM_NTASKS:-1} task(s); run dir $RUN_DIR"
  if [ -n "$CONTAINER_IMAGE" ]; then
    ot_log "container $CONTAINER_IMAGE, work dir $CONTAINER_WORKDIR, binaries $OMNITUNE_BIN_DIR"
  else
    ot_log "host build: binaries $OMNITUNE_BIN_DIR"
    if ! ot_dry_run && [ ! -d "$OMNITUNE_BIN_DIR" ]; then
      ot_die "$OMNITUNE_BIN_DIR does not exist: build omnitune (scripts/build.sh) or set OMNITUNE_BIN_DIR or CONTAINER_IMAGE"
    fi
  fi
  ot_nccl_env
  if ! ot_dry_run; then
    env | grep -E '^(SLURM|NCCL|OMPI|PMIX|UCX|HDF5|OMP|CUDA)_' | sort >"$RUN_DIR/env.txt" || true
  fi
}

# ot_container_flags: fills OT_CONTAINER_FLAGS with the pyxis options (empty without an image).
# The work directory is always mounted at the same path, so relative paths (configs, data,
# runs) mean the same inside and outside the container.
ot_container_flags() {
  OT_CONTAINER_FLAGS=()
  [ -n "$CONTAINER_IMAGE" ] || return 0
  local mounts=$CONTAINER_WORKDIR:$CONTAINER_WORKDIR
  if [ -n "$MOUNTS" ]; then mounts=$mounts,$MOUNTS; fi
  OT_CONTAINER_FLAGS=(--container-image="$CONTAINER_IMAGE" --container-mounts="$mounts"
                      --container-workdir="$CONTAINER_WORKDIR" --no-container-mount-home)
  if [ -n "$PYXIS_CONTAINER_NAME" ]; then OT_CONTAINER_FLAGS+=(--container-name="$PYXIS_CONTAINER_NAME"); fi
}

# ot_srun_cmd [srun options...] -- PROGRAM [ARGS...]: fills OT_CMD with the srun line that runs
# an omnitune program on the job's tasks (or on what the given srun options ask for).
ot_srun_cmd() {
  local opts=() extra=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  [ $# -ge 1 ] || ot_die "ot_srun_cmd: no program given"
  local prog=$1
  shift
  if [ -n "${SRUN_EXTRA_ARGS:-}" ]; then read -r -a extra <<<"$SRUN_EXTRA_ARGS"; fi
  ot_container_flags
  OT_CMD=(srun --mpi="${SRUN_MPI:-pmix}" --kill-on-bad-exit=1 "${opts[@]}" "${extra[@]}"
          "${OT_CONTAINER_FLAGS[@]}" "$OMNITUNE_BIN_DIR/$prog" "$@")
}

# ot_run: runs OT_CMD (logging the exact line), or prints it with DRY_RUN=1. Returns its status.
ot_run() {
  ot_log "run: $(ot_quote "${OT_CMD[@]}")"
  if ot_dry_run; then
    printf '%s\n' "$(ot_quote "${OT_CMD[@]}")"
    return 0
  fi
  local rc=0
  "${OT_CMD[@]}" || rc=$?
  ot_log "step exit status $rc"
  return "$rc"
}

# ot_program_args PROGRAM [ARGS...]: fills OT_ARGS with the arguments every omnitune program gets
# from the templates (config, per-rank logs in the run dir), then the user's ARGS, which win.
ot_program_args() {
  OT_ARGS=(--config "$CONFIG")
  if [ "${RANK_LOGS:-1}" = 1 ]; then OT_ARGS+=(--logging.rank_files true --logging.dir "$RUN_DIR/logs"); fi
  OT_ARGS+=("$@")
}

# ot_resolve_config PROGRAM [ARGS...]: writes the resolved config (defaults, env values and
# overrides applied) to <run dir>/config.yaml with one task, before the real step: a bad key or
# file fails here, in seconds, instead of on every rank.
ot_resolve_config() {
  local prog=$1
  shift
  [ -n "${CONFIG:-}" ] || ot_die "CONFIG is not set"
  if [ -z "$CONTAINER_IMAGE" ] && ! ot_dry_run && [ ! -f "$CONFIG" ]; then
    ot_die "CONFIG=$CONFIG not found (relative to $PWD): submit from the repository root or give an absolute path"
  fi
  ot_srun_cmd --ntasks=1 --nodes=1 -- "$prog" "$@" --print-config
  ot_log "resolved config -> $RUN_DIR/config.yaml"
  if ot_dry_run; then
    printf '%s > %s\n' "$(ot_quote "${OT_CMD[@]}")" "$(ot_quote "$RUN_DIR/config.yaml")"
    return 0
  fi
  "${OT_CMD[@]}" >"$RUN_DIR/config.yaml" || ot_die "$prog rejected the config (see above); nothing was started"
}

# ot_requeue: puts this job back in the queue (same job id, same run dir), for a step that stopped
# early on SLURM's --signal and left resumable state. Needs #SBATCH --requeue.
ot_requeue() {
  if [ -z "${SLURM_JOB_ID:-}" ]; then ot_log "not in a SLURM job: nothing to requeue"; return 0; fi
  ot_log "requeueing job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) to continue"
  if ot_dry_run; then printf 'scontrol requeue %s\n' "$SLURM_JOB_ID"; return 0; fi
  scontrol requeue "$SLURM_JOB_ID"
}
