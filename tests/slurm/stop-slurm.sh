#!/usr/bin/env bash
# stop-slurm.sh - stop the daemons that tests/slurm/start-slurm.sh started, and only those
# (adapted from the project research, research/slurm-local.md).
#
# Reads the pid files under /run/omnitune-slurm (slurmctld.pid, slurmd-<node>.pid,
# and munged.pid, which exists only when start-slurm.sh started munged itself),
# checks that each pid still belongs to the expected program, sends SIGTERM,
# waits, and SIGKILLs a daemon still there after 15 s. Jobs still in the
# (private) queue are cancelled first so that no slurmstepd is left behind.
# Never looks processes up by name.
set -uo pipefail
RUN=/run/omnitune-slurm
export PATH="$PATH:/usr/sbin:/sbin"
log() { printf '[stop-slurm] %s\n' "$*" >&2; }

# term_pidfile FILE EXPECTED_COMM: SIGTERM the recorded pid if it is still
# that program; prints the pid that was signalled.
term_pidfile() {
  local f=$1 want=$2 pid comm
  [ -f "$f" ] || return 0
  pid=$(tr -dc '0-9' < "$f")
  if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then rm -f "$f"; return 0; fi
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  if [ "$comm" != "$want" ]; then
    log "pid $pid from $f is now '$comm', not '$want': leaving it alone"
    rm -f "$f"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null && echo "$pid"
}

# wait_pids PID...: wait up to 15 s for them to exit, then SIGKILL the rest
wait_pids() {
  local p i left
  for ((i = 0; i < 300; i++)); do
    left=""
    for p in "$@"; do [ -d "/proc/$p" ] && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.05
  done
  for p in $left; do log "pid $p ignored SIGTERM: SIGKILL"; kill -KILL "$p" 2>/dev/null; done
  [ $# -gt 0 ] && log "stopped pids: $*"
  return 0
}

[ -d "$RUN" ] || { log "nothing recorded in $RUN"; exit 0; }

# cancel what is still queued or running on our cluster, then wait a little
if [ -f "$RUN/slurmctld.pid" ] && scontrol ping 2>/dev/null | grep -q UP; then
  jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// }" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for ((i = 0; i < 100; i++)); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

# slurmctld and all slurmd together (each takes 1-2 s to shut down), munged last
pids=$(term_pidfile "$RUN/slurmctld.pid" slurmctld)
for f in "$RUN"/slurmd-*.pid; do
  [ -e "$f" ] && pids="$pids $(term_pidfile "$f" slurmd)"
done
# shellcheck disable=SC2086
wait_pids $pids
# shellcheck disable=SC2046
wait_pids $(term_pidfile "$RUN/munged.pid" munged)
# the slurm daemons remove their own pid files on exit; munged.pid is our copy
rm -f "$RUN"/slurmctld.pid "$RUN"/slurmd-*.pid "$RUN"/munged.pid
exit 0
