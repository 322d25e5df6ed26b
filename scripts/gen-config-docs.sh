#!/usr/bin/env bash
# Regenerates docs/configuration.md from the config schemas (each tool's --help-config), so the
# reference never drifts from the code: omnitune-train gives the shared sections (top level,
# logging, distributed: a superset of omnitune-inspect's) and the training ones, each other tool
# (omnitune-preprocess, omnitune-generate) adds the sections it owns.
# Usage: gen-config-docs.sh [--check]   (--check: exit 1 if the committed file is stale)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${OMNITUNE_BIN_DIR:-${OMNITUNE_BUILD_DIR:-$root/build/cpu}/bin}
out=$(mktemp)
trap 'rm -f "$out" "$out".train "$out".preprocess "$out".generate "$out".inspect' EXIT
{
  "$bin/omnitune-train" --help-config
  # Sections owned by the preprocessor: from its "## preprocess" heading on.
  "$bin/omnitune-preprocess" --help-config | awk '/^## preprocess/ {on = 1} on'
  # Batch generation: from the "## generate" heading on (its model.path is the trainer's key).
  echo
  "$bin/omnitune-generate" --help-config | awk '/^## generate/ {on = 1} on'
  # Which keys each program takes (a key another program does not take is an error there):
  # whole sections where the program takes all of a section's keys, else the keys.
  echo
  echo "## Which program takes which keys"
  echo
  echo "Every key above does something in each program that takes it: \`tests/audit/config_audit.py\`"
  echo "(ctest \`config_audit\`) runs each program with each of its keys changed and fails on a change"
  echo "that changes nothing."
  echo
  for p in train preprocess generate inspect; do
    "$bin/omnitune-$p" --help-config | sed -n 's/^| `\([^`]*\)` |.*/\1/p' > "$out.$p"
  done
  python3 - "$out" <<'PY'
import sys
base = sys.argv[1]
keys = {p: open(f"{base}.{p}").read().split() for p in ("train", "preprocess", "generate", "inspect")}
every = {k for ks in keys.values() for k in ks}
def section(k):
    return k.rsplit(".", 1)[0] if "." in k else "(top level)"
for p, ks in keys.items():
    parts, done = [], set()
    for k in ks:
        s = section(k)
        if s in done:
            continue
        in_s = [x for x in every if section(x) == s]
        mine = [x for x in ks if section(x) == s]
        if s != "(top level)" and len(mine) == len(in_s):
            parts.append(f"`{s}.*`")
            done.add(s)
        else:
            parts.append(f"`{k}`")
    print(f"- `omnitune-{p}`: " + ", ".join(parts))
PY
} > "$out"
rm -f "$out".train "$out".preprocess "$out".generate "$out".inspect
if [ "${1:-}" = "--check" ]; then
  if ! diff -u "$root/docs/configuration.md" "$out"; then
    echo "docs/configuration.md is stale: run scripts/gen-config-docs.sh"
    exit 1
  fi
  echo "docs/configuration.md is current"
else
  cp "$out" "$root/docs/configuration.md"
  echo "wrote $root/docs/configuration.md"
fi
