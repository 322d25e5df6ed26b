#!/usr/bin/env bash
# Gemma 3n end to end on 2 MPI ranks, the quickstart's Gemma 3n variant and more: the sample set's
# spoken questions (espeak-ng clips asking about an image) -> tiny random-weight Gemma 3n ->
# preprocessing -> training -> generation from an audio question:
#   - LoRA (configs/tiny3n_lora_sample.yaml): loss falls, per-unit gradient norms of the 3n units
#     logged and adding up to the gradient norm, PEFT export, towers untouched;
#   - resume: 6 steps straight vs 3 + stop + --resume auto: identical losses;
#   - tensor parallelism: the same 6 steps on tp 2 equal dp 2;
#   - SFT: the fine-tuned model answers a spoken validation question with an answer of the kind
#     the clip asks for (shape question -> a shape), differently from the other spoken questions
#     about the same image: the answer comes from the audio;
#   - omnitune-generate --audio with the adapter, and --audio refused by a Gemma 3 model.
# Prints "N passed, M failed". Usage: train3n_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
mpi="mpirun -np 2 --oversubscribe"
export OMP_NUM_THREADS=1

sample_shards tiny-3n preprocess_sample_3n.yaml spoken_ --spoken 1
check "spoken-question shards exist" test -f "$work/shards/train/manifest.json" -a -f "$work/shards/validation/manifest.json"
export MODEL_DIR="$work/model" SHARDS_DIR="$work/shards"
train() { RUN_DIR="$1" $mpi "$bin/omnitune-train" --config "$src/configs/$2" "${@:3}"; }

# ---- LoRA on 2 ranks (the quickstart's recipe)
train "$work/lora" tiny3n_lora_sample.yaml >"$work/lora.log" 2>&1
check "LoRA run exits 0" test $? -eq 0
check "LoRA: loss falls; per-unit gradient norms of the 3n units add up to the gradient norm" \
  python3 - "$work/lora/metrics.jsonl" <<'PY'
import json, math, sys
m = [json.loads(l) for l in open(sys.argv[1])]
loss = [r["loss"] for r in m]
assert len(m) == 60 and sum(loss[-10:]) / 10 < sum(loss[:5]) / 5 - 0.1, loss
units = {k for k in m[0] if k.startswith("grad_norm/")}
for u in ("layers.0", "layers.5", "per_layer", "head"):
    assert "grad_norm/model.language_model." + u in units or "grad_norm/" + u in units, (u, sorted(units))
assert not any("audio" in u or "vision" in u for u in units), units  # frozen towers have no norm
for r in m[:5]:
    total = math.sqrt(sum(r[k] ** 2 for k in units))
    assert abs(total - r["grad_norm"]) <= 1e-4 * r["grad_norm"], (total, r["grad_norm"])
PY
check "LoRA: PEFT export with adapters only" python3 - "$work/lora/export-peft" <<'PY'
import json, os, sys
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "adapter_config.json")))
assert cfg["r"] == 8 and os.path.getsize(os.path.join(d, "adapter_model.safetensors")) > 0, cfg
mods = cfg["target_modules"]
assert mods and not any("audio" in m or "vision" in m for m in mods), mods
PY

# ---- resume: 6 steps straight vs 3 + stop + resume; identical per-step losses
common=(--step_scheduler.max_steps 6 --step_scheduler.ckpt_every_steps 0 --step_scheduler.val_every_steps 0 --checkpoint.export none)
train "$work/straight" tiny3n_lora_sample.yaml "${common[@]}" >"$work/straight.log" 2>&1
train "$work/split" tiny3n_lora_sample.yaml "${common[@]}" --train.stop_at_step 3 >"$work/split1.log" 2>&1
train "$work/split" tiny3n_lora_sample.yaml "${common[@]}" --resume auto >"$work/split2.log" 2>&1
check "resumed losses are bit-identical to the uninterrupted run" python3 - "$work/straight/metrics.jsonl" "$work/split/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6], [r["step"] for r in b]
assert [r["loss"] for r in a] == [r["loss"] for r in b], ([r["loss"] for r in a], [r["loss"] for r in b])
assert [r["grad_norm"] for r in a] == [r["grad_norm"] for r in b]
PY

# ---- tensor parallelism through omnitune-train: tp 2 trains like dp 2
train "$work/tp2" tiny3n_lora_sample.yaml "${common[@]}" --distributed.tp 2 >"$work/tp2.log" 2>&1
check "tp 2 run exits 0" test $? -eq 0
check "tp 2 losses and gradient norms equal dp 2 (1e-4)" python3 - "$work/straight/metrics.jsonl" "$work/tp2/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(b) == 6, len(b)
for x, y in zip(a, b):
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-4 * abs(x[k]), (k, x[k], y[k])
PY

# ---- SFT: the answer follows the spoken question
train "$work/sft" tiny3n_lora_sample.yaml --peft.method none --freeze_config.freeze_embeddings false \
  --optimizer.lr 3e-3 --step_scheduler.max_steps 200 --step_scheduler.ckpt_every_steps 0 \
  --step_scheduler.val_every_steps 100 --checkpoint.export hf >"$work/sft.log" 2>&1
check "SFT run exits 0 and exports" test -f "$work/sft/export-hf/model.safetensors"
$mpi "$bin/omnitune-generate" --config "$src/configs/generate_sample.yaml" --model.path "$work/sft/export-hf" \
  --generate.input "$work/shards/validation" --generate.output "$work/answers.jsonl" >"$work/gen.log" 2>&1
check "SFT: every spoken validation question answered" test "$(wc -l < "$work/answers.jsonl")" -eq 11
check "SFT: shape questions get shapes, and other spoken questions about the same image get other answers" \
  python3 - "$work/answers.jsonl" "$work/sample/spoken_validation.jsonl" <<'PY'
import json, sys
ans = {r["id"]: r["generated"].lower() for r in map(json.loads, open(sys.argv[1]))}
rows = [json.loads(l) for l in open(sys.argv[2])]
shapes = ("circle", "square", "triangle")
by_image = {}
n_shape = ok_shape = 0
for r in rows:
    clip = r["messages"][0]["content"][1]["audio"]
    image = r["messages"][0]["content"][0]["image"]
    by_image.setdefault(image, {})[clip] = ans[r["id"]]
    if "shape" in clip:
        n_shape += 1
        ok_shape += any(s in ans[r["id"]] for s in shapes)
differs = sum(len(set(v.values())) > 1 for v in by_image.values() if len(v) > 1)
print("shape answers", ok_shape, "/", n_shape, "; images whose answers differ by question", differs, "/", len(by_image))
assert n_shape > 0 and ok_shape >= n_shape - 1, (ok_shape, n_shape, ans)
assert differs >= 2, by_image
PY

# ---- omnitune-generate --audio (CLI) with the LoRA adapter
first=$(head -1 "$work/sample/spoken_validation.jsonl")
image=$(echo "$first" | python3 -c "import json,sys; print(json.load(sys.stdin)['messages'][0]['content'][0]['image'])")
clip=$(echo "$first" | python3 -c "import json,sys; print(json.load(sys.stdin)['messages'][0]['content'][1]['audio'])")
"$bin/omnitune-generate" --model "$work/model" --adapter "$work/lora/export-peft" --prompt "" \
  --image "$work/sample/$image" --audio "$work/sample/$clip" --max-new-tokens 8 --greedy --output json \
  >"$work/cli.json" 2>"$work/cli.log"
check "generate --audio with the adapter answers" python3 -c "
import json; r = json.load(open('$work/cli.json')); assert r['new_tokens'] > 0 and r['audio'] and r['prompt_tokens'] > 48, r"
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/gemma3" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
  --dtype float32 >/dev/null 2>&1
"$bin/omnitune-generate" --model "$work/gemma3" --prompt "x" --audio "$work/sample/$clip" >/dev/null 2>"$work/g3.log"
check "a Gemma 3 model refuses --audio with a clear error" grep -q "needs a Gemma 3n model" "$work/g3.log"

finish
