#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, configure, build, run every test
# (unit, multi-rank under mpirun -np 2 and -np 4, end-to-end) with ctest. Exits non-zero on any
# failure. Extra arguments go to ctest (e.g. `scripts/test.sh -L mpi`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
start=$(date +%s)

"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"

# Multi-rank tests run as root in CI; Open MPI refuses that unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if command -v ccache >/dev/null; then ccache -s 2>/dev/null | grep -E "Hits|Misses|hit rate" | head -3 || true; fi
# Sequential: the multi-rank tests oversubscribe the 2 cores on their own, and the failure tests
# bound their time.
ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"
echo "test.sh: finished in $(( $(date +%s) - start )) s"
