#!/usr/bin/env bash
# Trainer throughput on CPU (issue 6 "Performance"), ratios against baselines of the same run:
#   - data loader samples/s (one thread, no prefetch) vs samples/s a training step consumes
#     (goal >= 20x: the step never waits on I/O);
#   - training tokens/s and MFU of a mid-size VLM (small-vlm, ~30M parameters) and of the tiny one,
#     MFU against the matmul rate each rank measures at start.
# Usage: bench/train_bench.sh [BUILD_DIR] [STEPS]   (prints a table; nothing is asserted)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build/cpu}
steps=${2:-12}
bin=$build/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpi="mpirun -np 2 --oversubscribe"
"$bin/omnitune-make-sample" --out "$work/sample" --train 192 >/dev/null 2>&1
printf "%-10s %12s %12s %10s %14s %10s\n" model params step_s tokens/s samples/s mfu
for preset in tiny-vlm small-vlm; do
  "$bin/omnitune-init-model" --preset $preset --out "$work/$preset" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
    --dtype float32 >/dev/null 2>&1
  for split in train validation; do
    SAMPLE_DIR="$work/sample" MODEL_DIR="$work/$preset" SHARDS_DIR="$work/shards-$preset" \
      $mpi "$bin/omnitune-preprocess" --config "$root/configs/preprocess_sample.yaml" --preprocess.split $split \
      --preprocess.input "$work/sample/$split.jsonl" >/dev/null 2>&1
  done
  MODEL_DIR="$work/$preset" SHARDS_DIR="$work/shards-$preset" RUN_DIR="$work/run-$preset" \
    $mpi "$bin/omnitune-train" --config "$root/configs/tiny_sft_sample.yaml" --step_scheduler.max_steps "$steps" \
    --step_scheduler.ckpt_every_steps 0 --step_scheduler.val_every_steps 0 --checkpoint.export none \
    --freeze_config.freeze_vision_tower false >"$work/train-$preset.log" 2>&1
  python3 - "$work/run-$preset/metrics.jsonl" "$preset" "$(grep -o 'parameters: [0-9]* trainable' "$work/train-$preset.log" | grep -o '[0-9]*')" <<'PY' | tee "$work/row-$preset"
import json, statistics, sys
m = [json.loads(l) for l in open(sys.argv[1])][2:]  # skip warm-up steps
med = lambda k: statistics.median(r[k] for r in m)
print(f"{sys.argv[2]:<10s} {int(sys.argv[3]) / 1e6:11.1f}M {med('step_time_s'):12.3f} {med('tokens_per_s'):10.0f} "
      f"{med('samples_per_s'):14.1f} {100 * med('mfu'):9.1f}%")
PY
done
loader=$("$build/bench/loader_bench" "$work/shards-small-vlm/train" --micro 2 --global 8 --steps 60 | grep -o 'samples/s [0-9.]*' | grep -o '[0-9.]*')
consumed=$(awk '{print $5}' "$work/row-small-vlm")
python3 -c "print(f'data loader: {float($loader):.0f} samples/s on 1 thread vs {float($consumed):.1f} samples/s consumed by small-vlm training on 2 ranks: {float($loader) / float($consumed):.0f}x (goal >= 20x)')"
