#!/usr/bin/env bash
# Peak memory while loading a checkpoint: a random-weight Gemma 3 checkpoint with the exact 4B
# shapes (8.6 GB of bf16) is written once, then omnitune-forward loads it and runs a short prompt
# plus a few greedy tokens; peak RSS is compared with the checkpoint size (goal: < 1.2x).
# Usage: bench/load_memory.sh [PRESET=4b] [DIR=/var/tmp/omnitune-bench/gemma3-<preset>-random]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
preset=${1:-4b}
dir=${2:-/var/tmp/omnitune-bench/gemma3-$preset-random}
if [ ! -f "$dir/model.safetensors" ]; then
  echo "writing a random-weight $preset checkpoint to $dir ..."
  "$build/bin/omnitune-init-model" --preset "$preset" --out "$dir" --dtype bfloat16
fi
size=$(stat -c %s "$dir/model.safetensors")
inputs=$(mktemp --suffix=.safetensors)
out=$(mktemp --suffix=.safetensors)
trap 'rm -f "$inputs" "$out" "$out.time"' EXIT
# input_ids [1, 16] int64: BOS then ordinary ids.
python3 - "$inputs" <<'PY'
import json, struct, sys
ids = [2] + [1000 + 37 * i for i in range(15)]
data = struct.pack("<16q", *ids)
hdr = json.dumps({"input_ids": {"dtype": "I64", "shape": [1, 16], "data_offsets": [0, len(data)]}}).encode()
hdr += b" " * ((8 - len(hdr) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hdr)) + hdr + data)
PY
/usr/bin/time -v "$build/bin/omnitune-forward" --model "$dir" --inputs "$inputs" --out "$out" \
  --dtype bfloat16 --greedy-new-tokens 4 2> "$out.time" | tail -3
peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out.time")
python3 - "$size" "$peak_kb" "$wall" "$preset" <<'PY'
import sys
size, peak_kb, wall, preset = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
peak = peak_kb * 1024
print(f"\n{'measure':40s} {'value':>14s}")
print(f"{'checkpoint (' + preset + ', bf16) bytes':40s} {size/2**30:13.2f}G")
print(f"{'peak RSS: load + 16-token forward + 4 tokens':40s} {peak/2**30:13.2f}G")
print(f"{'ratio peak RSS / checkpoint (goal < 1.2)':40s} {peak/size:13.3f}x")
print(f"{'wall time':40s} {wall:>14s}")
PY
