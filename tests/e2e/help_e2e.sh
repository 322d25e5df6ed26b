#!/usr/bin/env bash
# Every program answers --help and -h with its usage on stdout and exit status 0, before touching
# MPI, a config or the file system (a user asks for help on a login node too).
# Prints "N passed, M failed". Usage: help_e2e.sh BIN_DIR
set -u
bin=$1
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

# help_ok NAME COMMAND...: exit 0, "usage: <program>" on stdout's first line, nothing on stderr.
help_ok() {
  local name=$1 prog; shift
  prog=$(basename "$1")
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" -ne 0 ]; then echo "  $name: exit $rc"; cat "$work/err"; return 1; fi
  if ! head -n 1 "$work/out" | grep -q "^usage: $prog"; then echo "  $name: stdout does not start with 'usage: $prog'"; head -3 "$work/out"; return 1; fi
  if [ -s "$work/err" ]; then echo "  $name: wrote to stderr:"; cat "$work/err"; return 1; fi
}

for p in omnitune-preprocess omnitune-make-sample omnitune-train omnitune-generate omnitune-export \
         omnitune-forward omnitune-init-model omnitune-inspect; do
  check "$p is built" test -x "$bin/$p"
  for flag in --help -h; do
    check "$p $flag" help_ok "$p $flag" "$bin/$p" "$flag"
  done
done
# Help wins over the other arguments, even incomplete ones.
check "omnitune-export --out X --help" help_ok "export --out X --help" "$bin/omnitune-export" --out "$work/x" --help
check "omnitune-init-model --preset --help" help_ok "init-model --preset --help" "$bin/omnitune-init-model" --preset --help
check "omnitune-inspect SPLIT_DIR --help" help_ok "inspect DIR --help" "$bin/omnitune-inspect" "$work" --help
check "help wrote nothing" test ! -e "$work/x"
finish
