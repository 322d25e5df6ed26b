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
trap 'rm -f "$out"' EXIT
{
  "$bin/omnitune-train" --help-config
  # Sections owned by the preprocessor: from its "## preprocess" heading on.
  "$bin/omnitune-preprocess" --help-config | awk '/^## preprocess/ {on = 1} on'
  # Batch generation: from the "## generate" heading on (its model.path is the trainer's key).
  echo
  "$bin/omnitune-generate" --help-config | awk '/^## generate/ {on = 1} on'
} > "$out"
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
