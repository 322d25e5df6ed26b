#!/usr/bin/env bash
# Runs a command that must FAIL: exit non-zero, within MAX_SECONDS, with output matching REGEX.
# Usage: expect_failure.sh MAX_SECONDS REGEX -- command args...
# Used for the watchdog and rank-failure tests: "it failed" is not enough, it must fail fast and
# say why.
set -u
max=$1; regex=$2; shift 2
[ "$1" = "--" ] && shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
# The hard limit is a safety net well beyond the bound being tested.
timeout --kill-after=5 $((max * 3 + 30)) "$@" >"$out" 2>&1
rc=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
elapsed="$((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))"
cat "$out"
echo "--- exit code $rc after ${elapsed}s (bound ${max}s)"
fail=0
if [ "$rc" -eq 0 ]; then echo "FAIL: the command succeeded but must fail"; fail=1; fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "FAIL: the command hung until the safety timeout"; fail=1; fi
if ! grep -Eq -- "$regex" "$out"; then echo "FAIL: output does not match: $regex"; fail=1; fi
if [ "$elapsed_ms" -gt $((max * 1000)) ]; then echo "FAIL: took ${elapsed}s, more than ${max}s"; fail=1; fi
[ "$fail" -eq 0 ] && echo "PASS: failed as expected"
exit $fail
