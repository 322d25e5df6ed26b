#!/usr/bin/env bash
# scripts/plot_metrics.py on a synthetic metrics.jsonl (written here, as the trainer writes it: one
# object per step, val_loss on some steps, a null loss, a line cut by a crash): a PNG comes out
# (signature, size, 700x400), with the train-loss, validation-loss and lr curves in their colours
# (read back with Pillow); the default output is RUN_DIR/loss.png; no data is a clear error.
# Prints "N passed, M failed". Usage: plot_metrics_e2e.sh SOURCE_DIR
set -u
src=$1
plot="$src/scripts/plot_metrics.py"
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

mkdir -p "$work/run" "$work/noval" "$work/empty"
/usr/bin/python3 - "$work" <<'PY'
import json, math, sys
w = sys.argv[1]
with open(w + "/run/metrics.jsonl", "w") as f, open(w + "/noval/metrics.jsonl", "w") as g:
    for s in range(1, 61):
        lr = 1e-4 * min(1.0, s / 5) * 0.5 * (1 + math.cos(math.pi * s / 60))
        r = {"epoch": s // 20, "loss": 3.0 * math.exp(-s / 20) + 0.2, "lr": lr, "step": s, "grad_norm": 1.0}
        if s == 17:
            r["loss"] = None  # a skipped (non-finite) step
        g.write(json.dumps(r) + "\n")
        if s % 10 == 0:
            r["val_loss"] = 3.2 * math.exp(-s / 25) + 0.3
        f.write(json.dumps(r) + "\n")
    f.write('{"epoch": 3, "loss": 0.2')  # cut by a crash
PY
: > "$work/empty/metrics.jsonl"

"$plot" "$work/run" -o "$work/out.png" > "$work/plot.log" 2>&1
check "plot_metrics.py exits 0 and prints the output path" sh -c "[ $? -eq 0 ] && grep -qx '$work/out.png' '$work/plot.log'"
check "the output is a non-empty PNG" sh -c "[ -s '$work/out.png' ] && [ \"\$(head -c 8 '$work/out.png' | od -An -tx1 | tr -d ' \n')\" = 89504e470d0a1a0a ]"
check "700x400 pixels, train loss (blue), validation loss (orange) and lr (grey) drawn" /usr/bin/python3 - "$work/out.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
assert im.size == (700, 400), im.size
def count(rgb):
    return sum(1 for p in im.getdata() if sum(abs(a - b) for a, b in zip(p, rgb)) <= 24)
blue, orange, grey = count((31, 119, 180)), count((255, 127, 14)), count((127, 127, 127))
print(f"  pixels: blue {blue}, orange {orange}, grey {grey}")
assert blue > 400 and orange > 300 and grey > 300, (blue, orange, grey)
PY
"$plot" "$work/noval" > /dev/null 2>&1
check "default output RUN_DIR/loss.png; no orange curve without val_loss" /usr/bin/python3 - "$work/noval/loss.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
orange = sum(1 for p in im.getdata() if sum(abs(a - b) for a, b in zip(p, (255, 127, 14))) <= 24)
assert im.size == (700, 400) and orange < 10, (im.size, orange)
PY
"$plot" "$work/empty" -o "$work/empty.png" > "$work/empty.log" 2>&1
check "an empty metrics.jsonl is an error naming the file, and writes no PNG" \
  sh -c "[ $? -ne 0 ] && grep -q 'metrics.jsonl: no metrics' '$work/empty.log' && [ ! -e '$work/empty.png' ]"
"$plot" "$work/missing" > "$work/missing.log" 2>&1
check "a missing run dir fails" test $? -ne 0
finish
