#!/usr/bin/env bash
# Configures and builds omnitune with the `cpu` preset into build/cpu (or $OMNITUNE_BUILD_DIR).
# Used by test.sh and quickstart.sh; safe to rerun (incremental, ccache-backed).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
jobs=${OMNITUNE_JOBS:-$(nproc)}
start=$(date +%s)
cmake -S "$root" -B "$build" --preset cpu -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" >/dev/null \
  || cmake -S "$root" -B "$build" --preset cpu  # on failure, rerun loudly so the error is visible
cmake --build "$build" -j "$jobs"
echo "build: done in $(( $(date +%s) - start )) s -> $build"
