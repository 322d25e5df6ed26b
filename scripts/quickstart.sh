#!/usr/bin/env bash
# From a fresh Debian 12 machine to a working omnitune, end to end on CPU:
#   install packages -> build -> launch check on 2 MPI ranks -> synthetic MedPix-format sample set
#   -> tiny random-weight Gemma 3 VLM sized to its tokenizer -> preprocessing on 2 MPI ranks
#   -> shard inspection -> LoRA fine-tuning on 2 MPI ranks (checkpoints, metrics, PEFT export)
#   -> generation with the base model and with the trained adapter, on a validation image.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
run_dir=${OMNITUNE_RUN_DIR:-$root/runs/quickstart}
bin=$build/bin
mkdir -p "$run_dir"
step() { echo; echo "== $*"; }

step "1/8 install dependencies"
"$root/scripts/install-deps.sh"
step "2/8 build"
"$root/scripts/build.sh"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
step "3/8 launch check on 2 MPI ranks (omnitune-inspect)"
mpirun -np 2 --oversubscribe "$bin/omnitune-inspect" --config "$root/configs/launch_check.yaml" \
  --logging.dir "$run_dir/logs" 2>&1 | tee "$run_dir/inspect.log"

step "4/8 sample dataset (omnitune-make-sample)"
"$bin/omnitune-make-sample" --out "$run_dir/sample" 2>&1 | tail -3

step "5/8 tiny model sized to the sample tokenizer (omnitune-init-model)"
"$bin/omnitune-init-model" --preset tiny-vlm --out "$run_dir/model" \
  --tokenizer "$run_dir/sample/tokenizer/tokenizer.model" --dtype float32

step "6/8 preprocess train and validation on 2 MPI ranks (omnitune-preprocess)"
for split in train validation; do
  SAMPLE_DIR="$run_dir/sample" MODEL_DIR="$run_dir/model" SHARDS_DIR="$run_dir/shards" \
    mpirun -np 2 --oversubscribe "$bin/omnitune-preprocess" --config "$root/configs/preprocess_sample.yaml" \
    --preprocess.split "$split" --preprocess.input "$run_dir/sample/$split.jsonl" 2>&1 | tail -2
done
"$bin/omnitune-inspect" "$run_dir/shards/train" --sample 0 --image-out "$run_dir/sample0.png" > "$run_dir/shards_inspect.txt"
sed -n '1,12p' "$run_dir/shards_inspect.txt"

step "7/8 LoRA fine-tuning on 2 MPI ranks (omnitune-train, configs/tiny_lora_sample.yaml)"
rm -rf "$run_dir/train"
MODEL_DIR="$run_dir/model" SHARDS_DIR="$run_dir/shards" RUN_DIR="$run_dir/train" \
  mpirun -np 2 --oversubscribe "$bin/omnitune-train" --config "$root/configs/tiny_lora_sample.yaml" 2>&1 \
  | grep -E "parameters:|step [0-9]+/|finished|exported" | tail -12
"$root/scripts/plot_metrics.py" "$run_dir/train" -o "$run_dir/train/loss.png" >/dev/null && echo "loss curves: $run_dir/train/loss.png"

step "8/8 answer a validation question with the base model and with the adapter (omnitune-generate)"
image=$(python3 -c "import json; print(json.loads(open('$run_dir/sample/validation.jsonl').readline())['image_id'])")
question=$(python3 -c "import json; print(json.loads(open('$run_dir/sample/validation.jsonl').readline())['question'])")
reference=$(python3 -c "import json; print(json.loads(open('$run_dir/sample/validation.jsonl').readline())['answer'])")
rm -f "$run_dir/answers.jsonl"
for adapter in "" "$run_dir/train/export-peft"; do
  "$bin/omnitune-generate" --model "$run_dir/model" ${adapter:+--adapter "$adapter"} --prompt "$question" \
    --image "$run_dir/sample/images/$image" --max-new-tokens 16 --greedy --output json >> "$run_dir/answers.jsonl"
done
echo "question: $question  (reference: $reference)"
python3 -c "
import json
for name, line in zip(['base model', 'with LoRA adapter'], open('$run_dir/answers.jsonl')):
    print(f'  {name:18s} {json.loads(line)[\"answer\"]!r}')"

cat <<EOT

omnitune quickstart: done.
  binaries:           $bin
  launch check log:   $run_dir/inspect.log (per-rank logs: $run_dir/logs/rank<N>.log)
  sample dataset:     $run_dir/sample (README.md inside)
  tiny model:         $run_dir/model
  shards + manifest:  $run_dir/shards/{train,validation}/manifest.json (rejects.jsonl beside)
  shard inspection:   $run_dir/shards_inspect.txt, image $run_dir/sample0.png
  fine-tuning run:    $run_dir/train (config.yaml, metrics.jsonl, loss.png, tensorboard/, checkpoints/, export-peft/)
  generated answers:  $run_dir/answers.jsonl (base model, then with the adapter)
  config reference:   docs/configuration.md; training guide: docs/training.md
  tests:              scripts/test.sh
EOT
