#!/usr/bin/env bash
# End to end through omnitune-inspect under mpirun: config file + overrides + env interpolation,
# per-rank log files, a 2x2 mesh self-test on 4 ranks, --print-config round trip, and a bad
# config key failing fast on every rank with the suggestion. Prints "N passed, M failed".
# Usage: inspect_e2e.sh BIN_DIR SOURCE_DIR
set -u
bin=$1/omnitune-inspect
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
pass=0; fail=0
check() {  # check NAME COMMAND...: passes when the command succeeds
  local name=$1; shift
  if "$@"; then echo "PASS: $name"; pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi
}

# 1. Four ranks, 2x2 mesh, logs to per-rank files through ${env:...} in the config.
OMNITUNE_LOG_DIR="$work/logs" mpirun -np 4 --oversubscribe "$bin" \
  --config "$src/configs/launch_check.yaml" --distributed.tp 2 >"$work/run4.out" 2>&1
rc=$?
check "4-rank 2x2 run exits 0" test "$rc" -eq 0
check "mesh line names dp 2 x tp 2" grep -q "mesh dp 2 x tp 2" "$work/run4.out"
for g in world dp tp; do
  check "self-test passed on group $g" grep -Eq "group '$g' \([0-9]+ ranks, mpi\): [0-9]+ collective checks passed" "$work/run4.out"
done
check "OK line" grep -q "omnitune-inspect: OK (4 ranks, 1 node(s))" "$work/run4.out"
for r in 0 1 2 3; do
  check "rank $r log file written with its prefix" grep -q "\[r$r/" "$work/logs/rank$r.log"
done
check "console shows only rank 0 info lines" bash -c "! grep -q '\[r[123]/.*INFO' '$work/run4.out'"

# 2. --print-config: resolved YAML that loads back to the same thing.
"$bin" --config "$src/configs/launch_check.yaml" --distributed.tp 2 --print-config >"$work/a.yaml" 2>&1
"$bin" --config "$work/a.yaml" --print-config >"$work/b.yaml" 2>&1
check "print-config round trip is stable" cmp -s "$work/a.yaml" "$work/b.yaml"
check "override visible in printed config" grep -Eq "^  tp: 2$" "$work/a.yaml"

# 3. A misspelt key: non-zero exit on every rank, fast, with the nearest key suggested.
start=$(date +%s)
mpirun -np 2 --oversubscribe "$bin" --config "$src/configs/launch_check.yaml" \
  --distributed.tpp 2 >"$work/bad.out" 2>&1
rc=$?
check "unknown key fails" test "$rc" -ne 0
check "unknown key suggests distributed.tp" grep -q "did you mean 'distributed.tp'" "$work/bad.out"
check "unknown key fails within 20 s" test $(( $(date +%s) - start )) -le 20

# 4. --help-config lists every distributed key with its doc.
"$bin" --help-config >"$work/help.md" 2>&1
for k in distributed.dp distributed.tp distributed.dp_replicate distributed.backend distributed.collective_timeout_s logging.rank_files; do
  check "help-config lists $k" grep -q "$k" "$work/help.md"
done

if [ "$fail" -ne 0 ]; then
  echo "--- 4-rank output"; cat "$work/run4.out"; echo "--- bad-key output"; cat "$work/bad.out"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
