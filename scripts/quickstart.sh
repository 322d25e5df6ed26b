#!/usr/bin/env bash
# From a fresh Debian 12 machine to a working omnitune, end to end on CPU:
#   install packages -> build -> launch check on 2 MPI ranks -> synthetic MedPix-format sample set
#   -> tiny random-weight Gemma 3 VLM sized to its tokenizer -> preprocessing on 2 MPI ranks
#   -> shard inspection -> LoRA fine-tuning on 2 MPI ranks (checkpoints, metrics, PEFT export)
#   -> generation with the base model and with the trained adapter, on a validation image.
# `scripts/quickstart.sh gemma3n` runs the Gemma 3n variant: the sample set with spoken questions
# (espeak-ng), a tiny random-weight Gemma 3n (image + audio towers), the same steps, and answers
# to a spoken question about a validation image.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
variant=${1:-gemma3}
case $variant in
  gemma3) default_run=quickstart ;;
  gemma3n) default_run=quickstart-3n ;;
  *) echo "usage: scripts/quickstart.sh [gemma3|gemma3n]" >&2; exit 2 ;;
esac
build=${OMNITUNE_BUILD_DIR:-$root/build/cpu}
run_dir=${OMNITUNE_RUN_DIR:-$root/runs/$default_run}
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

if [ "$variant" = gemma3 ]; then
  preset=tiny-vlm; sample_flags=(); pre_config=preprocess_sample.yaml; train_config=tiny_lora_sample.yaml
  pre_input() { echo "$run_dir/sample/$1.jsonl"; }
else
  preset=tiny-3n; sample_flags=(--spoken 1); pre_config=preprocess_sample_3n.yaml; train_config=tiny3n_lora_sample.yaml
  pre_input() { echo "$run_dir/sample/spoken_$1.jsonl"; }
fi

step "4/8 sample dataset (omnitune-make-sample ${sample_flags[*]})"
"$bin/omnitune-make-sample" --out "$run_dir/sample" "${sample_flags[@]}" 2>&1 | tail -3

step "5/8 tiny $variant model sized to the sample tokenizer (omnitune-init-model --preset $preset)"
"$bin/omnitune-init-model" --preset "$preset" --out "$run_dir/model" \
  --tokenizer "$run_dir/sample/tokenizer/tokenizer.model" --dtype float32

step "6/8 preprocess train and validation on 2 MPI ranks (omnitune-preprocess, configs/$pre_config)"
for split in train validation; do
  SAMPLE_DIR="$run_dir/sample" MODEL_DIR="$run_dir/model" SHARDS_DIR="$run_dir/shards" \
    mpirun -np 2 --oversubscribe "$bin/omnitune-preprocess" --config "$root/configs/$pre_config" \
    --preprocess.split "$split" --preprocess.input "$(pre_input "$split")" 2>&1 | tail -2
done
"$bin/omnitune-inspect" "$run_dir/shards/train" --sample 0 --image-out "$run_dir/sample0.png" > "$run_dir/shards_inspect.txt"
sed -n '1,12p' "$run_dir/shards_inspect.txt"

step "7/8 LoRA fine-tuning on 2 MPI ranks (omnitune-train, configs/$train_config)"
rm -rf "$run_dir/train"
MODEL_DIR="$run_dir/model" SHARDS_DIR="$run_dir/shards" RUN_DIR="$run_dir/train" \
  mpirun -np 2 --oversubscribe "$bin/omnitune-train" --config "$root/configs/$train_config" 2>&1 \
  | grep -E "parameters:|gradient norm|step [0-9]+/|finished|exported" | tail -12
"$root/scripts/plot_metrics.py" "$run_dir/train" -o "$run_dir/train/loss.png" >/dev/null && echo "loss curves: $run_dir/train/loss.png"

rm -f "$run_dir/answers.jsonl"
if [ "$variant" = gemma3 ]; then
  step "8/8 answer a validation question with the base model and with the adapter (omnitune-generate)"
  first=$run_dir/sample/validation.jsonl
  image=$run_dir/sample/images/$(python3 -c "import json; print(json.loads(open('$first').readline())['image_id'])")
  question=$(python3 -c "import json; print(json.loads(open('$first').readline())['question'])")
  reference=$(python3 -c "import json; print(json.loads(open('$first').readline())['answer'])")
  media=(--image "$image")
else
  step "8/8 answer a spoken validation question with the base model and with the adapter (omnitune-generate --audio)"
  first=$run_dir/sample/spoken_validation.jsonl
  read -r image clip reference < <(python3 -c "
import json
r = json.loads(open('$first').readline())
user = r['messages'][0]['content']
print(user[0]['image'], user[1]['audio'], r['messages'][1]['content'][0]['text'])")
  question="(spoken: $clip)"
  media=(--image "$run_dir/sample/$image" --audio "$run_dir/sample/$clip")
  image=$run_dir/sample/$image
fi
for adapter in "" "$run_dir/train/export-peft"; do
  "$bin/omnitune-generate" --model "$run_dir/model" ${adapter:+--adapter "$adapter"} \
    --prompt "$([ "$variant" = gemma3 ] && echo "$question")" "${media[@]}" \
    --max-new-tokens 16 --greedy --output json >> "$run_dir/answers.jsonl"
done
echo "question: $question about $image  (reference: $reference)"
python3 -c "
import json
for name, line in zip(['base model', 'with LoRA adapter'], open('$run_dir/answers.jsonl')):
    print(f'  {name:18s} {json.loads(line)[\"answer\"]!r}')"

cat <<EOT

omnitune quickstart ($variant): done.
  binaries:           $bin
  launch check log:   $run_dir/inspect.log (per-rank logs: $run_dir/logs/rank<N>.log)
  sample dataset:     $run_dir/sample (README.md inside)
  tiny model:         $run_dir/model ($preset)
  shards + manifest:  $run_dir/shards/{train,validation}/manifest.json (rejects.jsonl beside)
  shard inspection:   $run_dir/shards_inspect.txt, image $run_dir/sample0.png
  fine-tuning run:    $run_dir/train (config.yaml, metrics.jsonl, loss.png, tensorboard/, checkpoints/, export-peft/)
  generated answers:  $run_dir/answers.jsonl (base model, then with the adapter)
  config reference:   docs/configuration.md; training guide: docs/training.md
  tests:              scripts/test.sh
EOT
