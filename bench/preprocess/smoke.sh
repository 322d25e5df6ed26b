#!/usr/bin/env bash
# Smoke run of bench/preprocess/run.sh in tiny mode: it must exit 0 and print both ratio lines
# and the checksum-floor line for all three data sets. Times are not checked. Usage: smoke.sh BUILD_DIR
set -u
out=$("$(dirname "$0")/run.sh" --tiny "$1" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: run.sh exited $rc"; exit 1; }
for what in "ratio omnitune/python per core" "ratio floor/omnitune" "  (floor with the output SHA-256 / python per core"; do
  n=$(grep -c "^$what" <<<"$out")
  [ "$n" -eq 3 ] || { echo "FAIL: expected 3 lines starting '$what', got $n"; exit 1; }
done
echo "PASS: preprocess bench ran in tiny mode and printed its ratios"
