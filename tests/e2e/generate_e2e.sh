#!/usr/bin/env bash
# omnitune-generate end to end on CPU: a tokenizer trained by spm_train with the Gemma special
# pieces, a tiny random-weight Gemma 3 VLM sized to it (omnitune-init-model), then prompts with
# images (a gray PNG and a palette PNG from the shared fixtures), a left-padded batch, JSON output,
# greedy determinism and clear errors. Prints "N passed, M failed". Usage: generate_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
fixtures="$src/tests/fixtures/images"

if [ ! -d "$fixtures" ]; then echo "FAIL: shared fixtures missing at $fixtures"; echo "0 passed, 1 failed"; exit 1; fi
python3 - "$work/corpus.txt" <<'PY'
import random, sys
random.seed(1)
w = "what shape is shown in this image a red blue green circle square triangle left right the where lesion located colour finding modality CT MRI X-ray brain chest".split()
with open(sys.argv[1], "w") as f:
    for _ in range(3000):
        f.write(" ".join(random.choice(w) for _ in range(random.randint(3, 12))) + ".\n")
PY
spm_train --input="$work/corpus.txt" --model_prefix="$work/tok" --vocab_size=400 --byte_fallback=true \
  --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' \
  --unk_piece='<unk>' --model_type=bpe \
  --user_defined_symbols='<start_of_turn>,<end_of_turn>,<start_of_image>,<end_of_image>,<image_soft_token>' \
  >"$work/spm.log" 2>&1
check "spm_train made a tokenizer" test -f "$work/tok.model"
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/model" --tokenizer "$work/tok.model" --dtype float32 >"$work/init.log" 2>&1
check "init-model wrote a model directory" test -f "$work/model/model.safetensors" -a -f "$work/model/tokenizer.model" -a -f "$work/model/preprocessor_config.json"

gen="$bin/omnitune-generate --model $work/model"
$gen --prompt "What shape is shown in this image?" --image "$fixtures/cxr-gray-512.png" --max-new-tokens 6 \
  --seed 3 --output json --out "$work/one.jsonl" >"$work/one.log" 2>&1
check "generate with an image exits 0" test $? -eq 0
check "json has the answer and token counts" python3 -c "
import json,sys; r=json.loads(open('$work/one.jsonl').read())
assert r['images']==['$fixtures/cxr-gray-512.png'] and 1<=r['new_tokens']<=6 and r['prompt_tokens']>16 and 'answer' in r, r"

$gen --prompt "Where is the lesion?" --image "$fixtures/brain-palette-181x217.png" --prompt "What colour?" \
  --max-new-tokens 5 --greedy >"$work/batch1.txt" 2>"$work/batch1.log"
$gen --prompt "Where is the lesion?" --image "$fixtures/brain-palette-181x217.png" --prompt "What colour?" \
  --max-new-tokens 5 --greedy >"$work/batch2.txt" 2>>"$work/batch1.log"
check "batch of two prints one line per prompt" test "$(grep -c '^\[[01]\] ' "$work/batch1.txt")" -eq 2
check "greedy generation is deterministic" cmp -s "$work/batch1.txt" "$work/batch2.txt"
# The second prompt alone (no padding) must give the same greedy answer as inside the batch.
$gen --prompt "What colour?" --max-new-tokens 5 --greedy >"$work/alone.txt" 2>>"$work/batch1.log"
check "padded batch row equals the prompt alone" test "$(sed -n 's/^\[1\] //p' "$work/batch1.txt")" = "$(cat "$work/alone.txt")"

"$bin/omnitune-init-model" --preset tiny --out "$work/textonly" --tokenizer "$work/tok.model" --dtype float32 >/dev/null 2>&1
"$bin/omnitune-generate" --model "$work/textonly" --prompt "hi" --image "$fixtures/cxr-gray-512.png" >"$work/err1.log" 2>&1
check "image on a text-only model is a clear error" grep -q "is a text-only model" "$work/err1.log"
"$bin/omnitune-generate" --model "$work/absent" --prompt "hi" >"$work/err2.log" 2>&1
check "missing model directory is a clear error" grep -q "config.json" "$work/err2.log"
$gen --prompt "x" --image "$work/corpus.txt" >"$work/err3.log" 2>&1
check "a non-image file is a clear error" grep -qi "corpus.txt" "$work/err3.log"

if [ "$fail" -ne 0 ]; then for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done; fi
finish
