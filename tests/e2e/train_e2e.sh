#!/usr/bin/env bash
# omnitune-train end to end on the synthetic sample set with the tiny VLM, on 2 MPI ranks:
#   - LoRA: loss and validation loss fall, metrics.jsonl + TensorBoard + checkpoints + PEFT export
#     written, base weights untouched (only adapters in the checkpoint);
#   - SFT on a 768-row sample set: the fine-tuned export, loaded by omnitune-generate --config on 2
#     ranks, answers unseen validation images far more often exactly right than the base model and
#     than the best image-blind answer (the colour question nearly always: it uses the image);
#   - resume: 6 steps straight vs 3 steps + stop + --resume auto (also on 1 rank): identical losses,
#     with LoRA dropout 0.1 (which changes the losses once B is non-zero);
#   - bad configs and data: clear errors.
# Prints "N passed, M failed". Usage: train_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
mpi="mpirun -np 2 --oversubscribe"
export OMP_NUM_THREADS=1

# Data and model, as the quickstart makes them.
sample_shards tiny-vlm preprocess_sample.yaml ""
check "sample shards exist" test -f "$work/shards/train/manifest.json" -a -f "$work/shards/validation/manifest.json"
export MODEL_DIR="$work/model" SHARDS_DIR="$work/shards"
train() { RUN_DIR="$1" $mpi "$bin/omnitune-train" --config "$src/configs/$2" "${@:3}"; }

# ---- LoRA on 2 ranks (the quickstart's recipe)
train "$work/lora" tiny_lora_sample.yaml >"$work/lora.log" 2>&1
check "LoRA run exits 0" test $? -eq 0
check "LoRA: loss falls well below its start, validation loss falls" python3 - "$work/lora/metrics.jsonl" <<'PY'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
loss = [r["loss"] for r in m]
val = [r["val_loss"] for r in m if "val_loss" in r]
first, last = sum(loss[:3]) / 3, sum(loss[-3:]) / 3
print(f"  loss {first:.3f} -> {last:.3f}; val {val}")
# LoRA on a random base is capacity-limited (the tied LM head is frozen and random): SFT below
# shows answering; here the adapters must still cut the loss clearly.
assert len(m) == 60 and last < 0.85 * first and len(val) == 3 and val[-1] < val[0], (first, last, val)
PY
check "LoRA: per-unit gradient norms for the first 20 steps add up to the gradient norm" python3 - "$work/lora/metrics.jsonl" "$work/lora.log" <<'PY'
import json, math, sys
m = [json.loads(l) for l in open(sys.argv[1])]
for r in m:
    units = {k: v for k, v in r.items() if k.startswith("grad_norm/")}
    if r["step"] > 20:
        assert not units, r["step"]
        continue
    # LoRA: every decoder block holds adapters; frozen units (vision, embed, head) have no gradients
    assert len(units) == 4 and all(k.startswith("grad_norm/model.language_model.layers.") for k in units), units
    total = math.sqrt(sum(v * v for v in units.values()))
    assert abs(total - r["grad_norm"]) <= 1e-9 + 1e-6 * r["grad_norm"], (r["step"], total, r["grad_norm"])
assert "largest units: model.language_model.layers." in open(sys.argv[2]).read()
PY
check "LoRA: TensorBoard events, resolved config, PEFT export" \
  sh -c "ls '$work/lora/tensorboard'/events.out.tfevents.* >/dev/null && test -f '$work/lora/config.yaml' && test -f '$work/lora/export-peft/adapter_model.safetensors' && test -f '$work/lora/export-peft/adapter_config.json'"
check "plot_metrics.py draws the loss curves (PNG)" sh -c "'$src/scripts/plot_metrics.py' '$work/lora' -o '$work/loss.png' >/dev/null && head -c 8 '$work/loss.png' | od -An -c | grep -q 'P   N   G'"
check "TensorBoard file: valid TFRecord framing (masked CRC-32C) and the logged scalars" /usr/bin/python3 - "$work/lora/tensorboard" "$work/lora/metrics.jsonl" <<'PY'
import glob, json, struct, sys
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
def varint(b, i):
    v = s = 0
    while True:
        x = b[i]; i += 1; v |= (x & 0x7F) << s; s += 7
        if x < 0x80: return v, i
def fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i); f, w = k >> 3, k & 7
        if w == 0: v, i = varint(b, i)
        elif w == 1: v = b[i:i + 8]; i += 8
        elif w == 5: v = b[i:i + 4]; i += 4
        else: n, i = varint(b, i); v = b[i:i + n]; i += n
        out.append((f, v))
    return out
data = open(glob.glob(sys.argv[1] + "/events.out.tfevents.*")[0], "rb").read()
i, scalars, first = 0, {}, None
while i < len(data):
    (n,) = struct.unpack_from("<Q", data, i)
    assert struct.unpack_from("<I", data, i + 8)[0] == crc(data[i:i + 8])
    payload = data[i + 12:i + 12 + n]
    assert struct.unpack_from("<I", data, i + 12 + n)[0] == crc(payload)
    i += 16 + n
    ev = dict(fields(payload))
    if first is None: first = ev.get(3)
    if 5 in ev:
        v = dict(fields(dict(fields(ev[5]))[1]))
        scalars[(v[1].decode(), ev[2])] = struct.unpack("<f", v[2])[0]
assert first == b"brain.Event:2", first
m = [json.loads(l) for l in open(sys.argv[2])]
for r in m:
    assert abs(scalars[("train/loss", r["step"])] - r["loss"]) <= 1e-6 * abs(r["loss"])
assert ("val/loss", 60) in scalars
PY
check "LoRA: checkpoints hold adapters only; keep_last 2; LATEST" python3 - "$work/lora/checkpoints" <<'PY'
import json, os, struct, sys
root = sys.argv[1]
dirs = sorted(d for d in os.listdir(root) if d.startswith("epoch_"))
latest = open(os.path.join(root, "LATEST")).read().strip()
assert len(dirs) == 2 and latest == "epoch_10_step_60", (dirs, latest)
f = open(os.path.join(root, latest, "rank_00000.safetensors"), "rb")
n = struct.unpack("<Q", f.read(8))[0]
names = [k for k in json.loads(f.read(n)) if k != "__metadata__"]
assert names and all(".lora_" in k or k == "rng/cpu" for k in names), names[:5]
PY

# ---- the adapter in use: generate with --adapter == generate with the merged export (omnitune-export)
ckpt="$work/lora/checkpoints"
$mpi "$bin/omnitune-export" --checkpoint "$ckpt" --out "$work/merged" --format merged --dtype float32 >"$work/exp-merged.log" 2>&1
"$bin/omnitune-export" --checkpoint "$ckpt" --out "$work/peft2" --dtype float32 >"$work/exp-peft.log" 2>&1
check "omnitune-export writes merged weights and a PEFT adapter" test -f "$work/merged/model.safetensors" -a -f "$work/peft2/adapter_config.json" || tail -3 "$work/exp-merged.log" "$work/exp-peft.log"
q1=(--prompt "What colour is the finding?" --image "$work/sample/images/img_0000.png" --greedy --max-new-tokens 12 --output json)
"$bin/omnitune-generate" --model "$work/model" --adapter "$work/peft2" "${q1[@]}" --out "$work/ga.jsonl" >"$work/ga.log" 2>&1
"$bin/omnitune-generate" --model "$work/merged" "${q1[@]}" --out "$work/gm.jsonl" >"$work/gm.log" 2>&1
"$bin/omnitune-generate" --model "$work/model" "${q1[@]}" --out "$work/gb.jsonl" >"$work/gb.log" 2>&1
check "base + --adapter answers exactly like the merged model, unlike the base" python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
a, m, b = (json.loads(open(f"{w}/{n}.jsonl").read())["answer"] for n in ("ga", "gm", "gb"))
print(f"  adapter {a!r} merged {m!r} base {b!r}")
assert a == m and a != b
PY

# ---- SFT: the fine-tuned model answers from the image. A larger sample set (192 train images, 16
# validation images never seen in training), 600 SFT steps with the vision tower trained; answers of
# the validation split by omnitune-generate --config on 2 ranks, scored by exact match against the
# base model and against the best image-blind answer (the most common training answer per question).
"$bin/omnitune-make-sample" --out "$work/gsample" --train 768 --validation 64 >"$work/gsample.log" 2>&1
for split in train validation; do
  SAMPLE_DIR="$work/gsample" SHARDS_DIR="$work/gshards" \
    $mpi "$bin/omnitune-preprocess" --config "$src/configs/preprocess_sample.yaml" --preprocess.split "$split" \
    --preprocess.input "$work/gsample/$split.jsonl" >"$work/gpre-$split.log" 2>&1
done
SHARDS_DIR="$work/gshards" train "$work/sft" tiny_sft_sample.yaml --step_scheduler.max_steps 600 \
  --step_scheduler.ckpt_every_steps 0 --step_scheduler.val_every_steps 200 --optimizer.lr 1e-2 \
  --freeze_config.freeze_vision_tower false >"$work/sft.log" 2>&1
check "SFT run exits 0 and exports an HF directory" test -f "$work/sft/export-hf/model.safetensors" -a -f "$work/sft/export-hf/config.json"
for m in model sft/export-hf; do
  SHARDS_DIR="$work/gshards" $mpi "$bin/omnitune-generate" --config "$src/configs/generate_sample.yaml" \
    --model.path "$work/$m" --generate.output "$work/gen-${m%%/*}.jsonl" --generate.max_new_tokens 64 \
    --generate.batch_size 8 >"$work/gen-${m%%/*}.log" 2>&1
done
check "fine-tuned answers use the image: exact match far above the base model and the image-blind prior" \
  python3 - "$work" <<'PY'
import collections, json, re, sys
w = sys.argv[1]
norm = lambda s: re.findall(r"[a-z0-9]+", s.lower())
train = [json.loads(l) for l in open(w + "/gsample/train.jsonl")]
prior = {q: c.most_common(1)[0][0] for q, c in
         ((q, collections.Counter(r["answer"] for r in train if r["question"] == q)) for q in {r["question"] for r in train})}
def scores(hits):  # hits: [(question, correct)] -> overall and per question
    per = collections.defaultdict(list)
    for q, ok in hits: per[q].append(ok)
    return sum(ok for _, ok in hits) / len(hits), {q: sum(v) / len(v) for q, v in per.items()}
res = {}
for m in ("model", "sft"):
    rows = [json.loads(l) for l in open(f"{w}/gen-{m}.jsonl")]
    res[m] = scores([(r["question"], norm(r["generated"]) == norm(r["reference"])) for r in rows])
res["prior"] = scores([(r["question"], norm(prior[r["question"]]) == norm(r["reference"])) for r in rows])
for k in ("model", "prior", "sft"):
    print(f"  {k:6s} exact match {res[k][0]:.2f} ({len(rows)} validation questions); per question " +
          ", ".join(f"{(q.split()[1] if q.startswith('What') else q.split()[0]).lower()} {v:.2f}"
                    for q, v in sorted(res[k][1].items())))
colour = "What colour is the finding?"
# Margins from runs of this exact setup: LibTorch 1.13 overall 0.38 / colour 0.88, LibTorch 2.6
# 0.27 / 0.56 (prior 0.20 / 0.25); when colour is learned varies with the numerics (docs/training.md).
assert res["sft"][0] >= res["model"][0] + 0.2, res
assert res["sft"][0] >= res["prior"][0] + 0.05, res
assert res["sft"][1][colour] >= res["prior"][1][colour] + 0.2, res
PY

# ---- resume: 6 steps straight vs 3 + stop + resume; identical per-step losses. With LoRA dropout
# (per-sample masks: a resumed run and a run on another rank count draw the same ones).
common=(--step_scheduler.max_steps 6 --step_scheduler.ckpt_every_steps 0 --step_scheduler.val_every_steps 0 --checkpoint.export none
        --peft.dropout 0.1)
train "$work/straight" tiny_lora_sample.yaml "${common[@]}" >"$work/straight.log" 2>&1
train "$work/nodrop" tiny_lora_sample.yaml "${common[@]}" --peft.dropout 0 >"$work/nodrop.log" 2>&1
# The recipe's warmup starts at lr 0, so B is still zero in step 2: dropout cannot matter before step 3.
check "peft.dropout changes the losses once B is non-zero (from step 3)" python3 - "$work/straight/metrics.jsonl" "$work/nodrop/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l)["loss"] for l in open(sys.argv[1])]
b = [json.loads(l)["loss"] for l in open(sys.argv[2])]
assert len(a) == len(b) == 6, (a, b)
assert a[:2] == b[:2], (a, b)
assert all(x != y for x, y in zip(a[2:], b[2:])), (a, b)
PY
train "$work/split" tiny_lora_sample.yaml "${common[@]}" --train.stop_at_step 3 >"$work/split1.log" 2>&1
check "stop_at_step checkpoints and stops at step 3" sh -c "test \$(wc -l < '$work/split/metrics.jsonl') -eq 3 && grep -q 'epoch_0_step_3' '$work/split/checkpoints/LATEST'"
train "$work/split" tiny_lora_sample.yaml "${common[@]}" --resume auto >"$work/split2.log" 2>&1
check "resumed losses are bit-identical to the uninterrupted run" python3 - "$work/straight/metrics.jsonl" "$work/split/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6], [r["step"] for r in b]
assert [r["loss"] for r in a] == [r["loss"] for r in b], ([r["loss"] for r in a], [r["loss"] for r in b])
assert [r["grad_norm"] for r in a] == [r["grad_norm"] for r in b]
PY
# Resharded: the 2-rank checkpoint resumed on 1 rank (same global batch): the same losses to 1e-5.
mkdir -p "$work/one" && cp -r "$work/split/checkpoints" "$work/one/" && rm -rf "$work/one/checkpoints/epoch_0_step_6"
echo "epoch_0_step_3" > "$work/one/checkpoints/LATEST"
RUN_DIR="$work/one" "$bin/omnitune-train" --config "$src/configs/tiny_lora_sample.yaml" "${common[@]}" --resume auto >"$work/one.log" 2>&1
check "a 2-rank checkpoint resumes on 1 rank" python3 - "$work/straight/metrics.jsonl" "$work/one/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])][3:]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in b] == [4, 5, 6], b
assert all(abs(x["loss"] - y["loss"]) <= 1e-5 * abs(x["loss"]) for x, y in zip(a, b)), (a, b)
PY

# ---- SIGUSR1 (what SLURM sends with --signal=USR1@<s> before the time limit): checkpoint and exit 2
# ("stopped early, resumable": scripts/slurm/finetune.sh requeues the job on it)
RUN_DIR="$work/sig" $mpi "$bin/omnitune-train" --config "$src/configs/tiny_lora_sample.yaml" \
  --step_scheduler.max_steps 100000 --step_scheduler.ckpt_every_steps 0 --checkpoint.export none >"$work/sig.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/sig/metrics.jsonl" ] && break; sleep 0.2; done
sleep 1
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "SIGUSR1: exit 2 with a checkpoint at the step reached, resumable" python3 - "$work/sig" "$rc" <<'PY'
import json, os, sys
d, rc = sys.argv[1], int(sys.argv[2])
steps = [json.loads(l)["step"] for l in open(d + "/metrics.jsonl")]
latest = open(d + "/checkpoints/LATEST").read().strip()
print(f"  rc {rc}, stopped after step {steps[-1]}, checkpoint {latest}")
assert rc == 2 and 0 < steps[-1] < 100000 and latest.endswith(f"_step_{steps[-1]}")
assert os.path.exists(f"{d}/checkpoints/{latest}/meta.json")
PY

# ---- errors
expect_error() {  # name, pattern, command...
  local name=$1 pat=$2; shift 2
  "$@" >"$work/err.log" 2>&1
  local rc=$?
  check "$name" sh -c "test $rc -ne 0 && grep -q -- \"$pat\" '$work/err.log'" || sed -n '1,5p' "$work/err.log"
}
expect_error "existing checkpoints without --resume" "already holds checkpoints" train "$work/split" tiny_lora_sample.yaml
expect_error "global batch not divisible" "is not a multiple of dataloader.micro_batch_size" \
  train "$work/e1" tiny_lora_sample.yaml --step_scheduler.global_batch_size 7
expect_error "global batch larger than the data" "fewer than one global batch" \
  train "$work/e2" tiny_lora_sample.yaml --step_scheduler.global_batch_size 96
mkdir -p "$work/othertok" && cp "$work/model"/* "$work/othertok/" && cp "$src/tests/fixtures/gemma3-tokenizer/tokenizer.model" "$work/othertok/"
expect_error "shards of another tokenizer" "re-run omnitune-preprocess with this model's tokenizer" \
  env MODEL_DIR="$work/othertok" RUN_DIR="$work/e3" $mpi "$bin/omnitune-train" --config "$src/configs/tiny_lora_sample.yaml"
expect_error "LoRA matching nothing" "nothing would train" \
  train "$work/e4" tiny_lora_sample.yaml --peft.match_all_linear false "--peft.include=['*.nothing']"
expect_error "missing shards" "has no manifest.json" env SHARDS_DIR="$work/none" RUN_DIR="$work/e5" \
  $mpi "$bin/omnitune-train" --config "$src/configs/tiny_lora_sample.yaml"
expect_error "unknown config key" "did you mean 'optimizer.lr'" train "$work/e6" tiny_lora_sample.yaml --optimizer.lrr 1
# Nothing a user made is overwritten: checkpoints whose LATEST is gone are refused (fresh start and
# --resume auto alike, naming the newest to resume from), and export will not replace the base model.
cp -r "$work/split" "$work/nolatest" && rm "$work/nolatest/checkpoints/LATEST"
expect_error "checkpoints without LATEST, no --resume" "but no LATEST file: pass --resume .*/epoch_1_step_6 " \
  train "$work/nolatest" tiny_lora_sample.yaml
expect_error "checkpoints without LATEST, --resume auto" "but no LATEST file" \
  train "$work/nolatest" tiny_lora_sample.yaml --resume auto
check "the LATEST-less checkpoints are intact" test -f "$work/nolatest/checkpoints/epoch_1_step_6/meta.json"
base_sum=$(sha256sum "$work/model/model.safetensors")
expect_error "export onto the base model" "exists and is not empty" \
  "$bin/omnitune-export" --checkpoint "$ckpt" --out "$work/model" --format merged
expect_error "export onto the base model, even with --overwrite" "is the run's base model" \
  "$bin/omnitune-export" --checkpoint "$ckpt" --out "$work/model" --format merged --overwrite
check "the base model is untouched" sh -c "echo '$base_sum' | sha256sum -c --quiet"
expect_error "export onto an existing export" "exists and is not empty" \
  "$bin/omnitune-export" --checkpoint "$ckpt" --out "$work/peft2" --dtype float32
"$bin/omnitune-export" --checkpoint "$ckpt" --out "$work/peft2" --dtype float32 --overwrite >"$work/exp-over.log" 2>&1
check "--overwrite replaces an export" test -f "$work/peft2/adapter_config.json" -a "$(ls "$work"/peft2.* 2>/dev/null | wc -l)" -eq 0

finish
