#!/usr/bin/env bash
# From a fresh Debian 12 machine to a working omnitune: installs the packages, builds, and runs
# what exists end to end. Today that is the launch check: 2 MPI ranks, config, device choice,
# communicator self-test on the DP x TP mesh and an all-reduce bandwidth table.
# Later stages (sample data, preprocessing, LoRA fine-tuning, generation) join this script as
# they land.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
run_dir=${OMNITUNE_RUN_DIR:-$root/runs/quickstart}
mkdir -p "$run_dir"

echo "== 1/3 install dependencies"
"$root/scripts/install-deps.sh"
echo "== 2/3 build"
"$root/scripts/build.sh"

echo "== 3/3 launch check on 2 MPI ranks (omnitune-inspect)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpirun -np 2 --oversubscribe "$build/bin/omnitune-inspect" \
  --config "$root/configs/launch_check.yaml" \
  --logging.dir "$run_dir/logs" 2>&1 | tee "$run_dir/inspect.log"
"$build/bin/omnitune-inspect" --config "$root/configs/launch_check.yaml" --print-config \
  > "$run_dir/resolved_config.yaml"

cat <<EOT

omnitune quickstart: done.
  binaries:         $build/bin
  launch check log: $run_dir/inspect.log
  per-rank logs:    $run_dir/logs/rank<N>.log
  resolved config:  $run_dir/resolved_config.yaml
  config reference: $build/bin/omnitune-inspect --help-config
  tests:            scripts/test.sh
EOT
