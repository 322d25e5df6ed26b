# Shared by the end-to-end test scripts (sourced): a scratch directory removed on exit (kept when
# KEEP_WORK is set), PASS/FAIL counting, and the closing line ctest reads.
#   source "$(dirname "$0")/../e2e/lib.sh"   ...   check "name" command args...   ...   finish
# shellcheck shell=bash
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then echo "PASS: $name"; pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi; }
finish() { echo "$pass passed, $fail failed"; test "$fail" -eq 0; }
