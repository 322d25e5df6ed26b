#!/usr/bin/env bash
# GPU checks for a `cuda`-preset build (registered by CMake only when LibTorch has CUDA and the NCCL
# backend is built; CI has no GPU and never runs it). On the sample set with the tiny VLM:
#   - omnitune-inspect: NCCL self-test of every collective on the world/dp/tp groups;
#   - SFT for 20 steps on cuda:0 with NCCL against the same run on the CPU with MPI: per-step losses
#     and gradient norms agree to 1e-5 relative (fp32);
#   - with >= 2 GPUs: DP=2 and TP=2 on NCCL (one GPU per rank) against the same 1-rank CPU run.
#     NCCL refuses two ranks on one GPU, so a 1-GPU node runs the first two checks only.
# Prints "N passed, M failed". Usage: gpu_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
echo "gpu_e2e: $ngpu GPU(s) visible"

"$bin/omnitune-make-sample" --out "$work/sample" >"$work/sample.log" 2>&1
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/model" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
  --dtype float32 >"$work/init.log" 2>&1
for split in train validation; do
  SAMPLE_DIR="$work/sample" MODEL_DIR="$work/model" SHARDS_DIR="$work/shards" \
    "$bin/omnitune-preprocess" --config "$src/configs/preprocess_sample.yaml" --preprocess.split "$split" \
    --preprocess.input "$work/sample/$split.jsonl" >"$work/pre-$split.log" 2>&1
done
check "sample shards exist" test -f "$work/shards/train/manifest.json" -a -f "$work/shards/validation/manifest.json"

OMNITUNE_LOG_DIR="$work/logs" mpirun -np 1 "$bin/omnitune-inspect" --config "$src/configs/launch_check.yaml" \
  --distributed.device cuda --distributed.backend nccl >"$work/inspect.log" 2>&1
check "NCCL self-test passes on one GPU" grep -q "group 'world' (1 ranks, nccl): .* collective checks passed" "$work/inspect.log"

export MODEL_DIR="$work/model" SHARDS_DIR="$work/shards"
train() {  # run_dir np device extra...
  RUN_DIR="$work/$1" mpirun -np "$2" "$bin/omnitune-train" --config "$src/configs/tiny_sft_sample.yaml" \
    --distributed.device "$3" --step_scheduler.max_steps 20 --checkpoint.export none "${@:4}" >"$work/$1.log" 2>&1
}
same_run() {  # metrics files a b: losses and gradient norms to 1e-5 / 1e-4 relative
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = ([r for r in map(json.loads, open(p)) if "loss" in r] for p in sys.argv[1:3])
assert len(a) == len(b) == 20, (len(a), len(b))
worst = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(a, b))
gworst = max(abs(x["grad_norm"] - y["grad_norm"]) / abs(x["grad_norm"]) for x, y in zip(a, b))
print(f"  max relative difference: loss {worst:.2e}, grad norm {gworst:.2e}")
assert worst <= 1e-5 and gworst <= 1e-4
PY
}
train cpu 1 cpu
train cuda 1 cuda
check "1 rank: CUDA/NCCL losses equal CPU/MPI ones" same_run "$work/cpu/metrics.jsonl" "$work/cuda/metrics.jsonl"
check "the CUDA run computed on the GPU" grep -q "rank 0 on cuda:0" "$work/cuda.log"
if [ "$ngpu" -ge 2 ]; then
  train dp2 2 cuda --distributed.dp 2 --distributed.tp 1
  check "DP=2 on NCCL equals 1 rank" same_run "$work/cpu/metrics.jsonl" "$work/dp2/metrics.jsonl"
  train tp2 2 cuda --distributed.dp 1 --distributed.tp 2
  check "TP=2 on NCCL equals 1 rank" same_run "$work/cpu/metrics.jsonl" "$work/tp2/metrics.jsonl"
else
  echo "gpu_e2e: DP/TP over NCCL needs 2 GPUs (NCCL allows one rank per GPU): not run"
fi
finish
