#!/usr/bin/env bash
# Regenerates docs/configuration.md from the config schema (the --help-config output), so the
# reference never drifts from the code. The test `config_docs_current` fails when it is stale.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
"$build/bin/omnitune-inspect" --help-config > "$root/docs/configuration.md"
echo "wrote $root/docs/configuration.md"
