#!/usr/bin/env bash
# omnitune-generate --config end to end on the synthetic sample set with the tiny VLM:
#   - a preprocessed split answered on 1, 2 and 4 MPI ranks (oversubscribed): one merged JSONL,
#     byte-identical across rank counts, in input order, with the source rows' metadata;
#   - the evaluation JSON: present, per mode, and equal to an independent Python scoring;
#   - resume: deleted answers (and a cut-off line) are regenerated, and only they; a run stopped
#     by SIGUSR1 and a run whose rank was SIGKILLed both finish on rerun, equal to a clean run;
#   - a JSONL of questions + image files: same answers on 1 and 2 ranks, the same answer as the
#     single-prompt CLI, and scores of 1 where the reference is set to the answer;
#   - base model + a LoRA adapter exported by a short omnitune-train run: other answers than the
#     base model's, the same as the CLI's --adapter;
#   - errors: a rerun with other settings, a missing image.
# Prints "N passed, M failed". Usage: generate_batch_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
work=$(mktemp -d)
bg_pid=""
cleanup() {
  if [ -n "$bg_pid" ] && kill -0 "$bg_pid" 2>/dev/null; then kill -KILL "$bg_pid" 2>/dev/null; wait "$bg_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then echo "PASS: $name"; pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi; }
export OMP_NUM_THREADS=1
gen_cmd() {  # gen_cmd NP: the command line of omnitune-generate on NP ranks, into the array `cmd`
  cmd=(mpirun -np "$1" --oversubscribe "$bin/omnitune-generate" --config "$src/configs/generate_sample.yaml")
}
gen() {  # gen NP OUT [overrides...]: omnitune-generate on NP ranks into OUT
  local np=$1 out=$2; shift 2
  gen_cmd "$np"
  "${cmd[@]}" --generate.output "$out" "$@"
}
ranks() { ps -o pid= --ppid "$bg_pid" | tr -d ' '; }  # the rank processes mpirun started
lines() { if [ -e "$1" ]; then wc -l < "$1"; else echo 0; fi; }
part_lines() { cat "$1".parts/rank-*.jsonl 2>/dev/null | wc -l; }

"$bin/omnitune-make-sample" --out "$work/sample" >"$work/sample.log" 2>&1
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/model" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
  --dtype float32 >"$work/init.log" 2>&1
SAMPLE_DIR="$work/sample" MODEL_DIR="$work/model" SHARDS_DIR="$work/shards" \
  "$bin/omnitune-preprocess" --config "$src/configs/preprocess_sample.yaml" --preprocess.split validation \
  --preprocess.input "$work/sample/validation.jsonl" >"$work/pre.log" 2>&1
check "validation shards exist" test -f "$work/shards/validation/manifest.json"
export MODEL_DIR="$work/model" SHARDS_DIR="$work/shards"

# ---- a preprocessed split on 1, 2 and 4 ranks
for np in 1 2 4; do
  gen "$np" "$work/np$np/answers.jsonl" >"$work/np$np.log" 2>&1
  check "np $np: exits 0 and writes the merged JSONL" test $? -eq 0 -a -s "$work/np$np/answers.jsonl"
done
check "np 2 output is byte-identical to np 1" cmp -s "$work/np1/answers.jsonl" "$work/np2/answers.jsonl"
check "np 4 output is byte-identical to np 1" cmp -s "$work/np1/answers.jsonl" "$work/np4/answers.jsonl"
check "records: input order, the source rows' metadata, token counts" python3 - "$work/np1/answers.jsonl" \
  "$work/sample/validation.jsonl" <<'PY'
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
src = [json.loads(l) for l in open(sys.argv[2])]
assert len(out) == len(src) == 16, (len(out), len(src))
for i, (o, s) in enumerate(zip(out, src)):
    assert list(o) == ["id", "case_id", "mode", "question", "reference", "generated", "prompt_tokens",
                       "generated_tokens"], list(o)
    assert o["id"] == f"validation-{i}", o["id"]
    assert (o["case_id"], o["mode"], o["question"], o["reference"]) == \
        (s["case_id"], s["mode"], s["question"], s["answer"]), (o, s)
    assert o["prompt_tokens"] > 16 and 1 <= o["generated_tokens"] <= 12, o
PY
check "evaluation JSON: counts per mode, scores in [0, 1], equal to an independent scoring" python3 - \
  "$work/np1/answers.jsonl" <<'PY'
import json, re, string, sys
from collections import Counter
recs = [json.loads(l) for l in open(sys.argv[1])]
ev = json.load(open(sys.argv[1] + ".eval.json"))
def norm(s):  # docs/cluster.md, "Evaluation metrics"
    s = s.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))  # ASCII only
    s = re.sub(r"(?<=[0-9]),(?=[0-9])", "", s)
    s = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", s)
    s = s.replace("'", "")
    s = re.sub(r"[!\"#$%&()*+,\-/:;<=>?@\[\\\]^_`{|}~ \t\n\r\f\v]", " ", s)
    nums = dict(zero="0", one="1", two="2", three="3", four="4", five="5", six="6", seven="7", eight="8", nine="9", ten="10")
    return [nums.get(w, w) for w in s.split(" ") if w and w not in ("a", "an", "the")]
def f1(p, r):
    p, r = norm(p), norm(r)
    if not p or not r: return float(p == r)
    c = sum((Counter(p) & Counter(r)).values())
    return 0.0 if c == 0 else 2 * (c / len(p)) * (c / len(r)) / (c / len(p) + c / len(r))
assert ev["items"] == 16 and ev["scored"] == 16, ev
modes = Counter(r["mode"] for r in recs)
assert {m: v["count"] for m, v in ev["per_mode"].items()} == dict(modes), (ev["per_mode"], modes)
for group in [ev["overall"], *ev["per_mode"].values()]:
    for k in ("exact_match", "token_f1", "bleu4_corpus", "bleu4_sentence", "rouge_l"):
        assert 0.0 <= group[k] <= 1.0, (k, group)
em = sum(norm(r["generated"]) == norm(r["reference"]) for r in recs) / 16
f = sum(f1(r["generated"], r["reference"]) for r in recs) / 16
assert abs(ev["overall"]["exact_match"] - em) < 1e-12 and abs(ev["overall"]["token_f1"] - f) < 1e-12, (ev["overall"], em, f)
PY
check "the summary table is printed" grep -q "mode alignment" "$work/np1.log"

# ---- resume: deleted answers and a cut-off last line are regenerated, and only they
r=$work/np2
sed -i '1d;3d' "$r/answers.jsonl.parts/rank-00000.jsonl"
sed -i '2d' "$r/answers.jsonl.parts/rank-00001.jsonl"
printf '{"id":"validation-99","gener' >> "$r/answers.jsonl.parts/rank-00001.jsonl"  # as a kill mid-write leaves it
rm "$r/answers.jsonl"
gen 2 "$r/answers.jsonl" >"$work/resume.log" 2>&1
check "resume exits 0" test $? -eq 0
check "resume: 13 answers reused, 3 generated" grep -q "13 already answered in .*, 3 to generate" "$work/resume.log"
check "resume: the cut-off line is dropped, 3 lines appended" test "$(part_lines "$r/answers.jsonl")" -eq 16
check "resume: merged output equals the clean run" cmp -s "$work/np1/answers.jsonl" "$r/answers.jsonl"
gen 1 "$r/answers.jsonl" >"$work/rerun.log" 2>&1
check "a complete rerun generates nothing (also on another rank count)" grep -q "16 already answered in .*, 0 to generate" "$work/rerun.log"
check "... and rewrites the same output" cmp -s "$work/np1/answers.jsonl" "$r/answers.jsonl"
gen 2 "$r/answers.jsonl" --generate.max_new_tokens 5 >"$work/mismatch.log" 2>&1
check "a rerun with other settings is refused, naming the setting" grep -q "max_new_tokens: 12 before, 5 now" "$work/mismatch.log"

# ---- interrupted runs (longer answers, one prompt per batch, so the runs last a few seconds)
long=(--generate.max_new_tokens 48 --generate.batch_size 1)
gen 1 "$work/long-ref/a.jsonl" "${long[@]}" >"$work/long-ref.log" 2>&1
check "reference run for the interrupted cases" test -s "$work/long-ref/a.jsonl"
wait_parts() {  # wait_parts OUT N: until N answers are in the part files (or the run ended)
  for _ in $(seq 600); do
    [ "$(part_lines "$1")" -ge "$2" ] && return 0
    kill -0 "$bg_pid" 2>/dev/null || return 0
    sleep 0.02
  done
}
# SIGUSR1 to every rank (as srun forwards SLURM's --signal=USR1@T before a time limit): each rank
# stops after its current batch.
gen_cmd 2
"${cmd[@]}" --generate.output "$work/usr1/a.jsonl" "${long[@]}" >"$work/usr1.log" 2>&1 &
bg_pid=$!
wait_parts "$work/usr1/a.jsonl" 2
for p in $(ranks); do kill -USR1 "$p"; done
wait "$bg_pid"; rc=$?; bg_pid=""
done_usr1=$(part_lines "$work/usr1/a.jsonl")
check "SIGUSR1: exit 2, answers kept, no merged file ($done_usr1 done)" \
  test "$rc" -eq 2 -a ! -e "$work/usr1/a.jsonl" -a "$done_usr1" -ge 2 -a "$done_usr1" -lt 16
gen 2 "$work/usr1/a.jsonl" "${long[@]}" >"$work/usr1-resume.log" 2>&1
check "SIGUSR1: the rerun generates only the rest" grep -q "$done_usr1 already answered in .*, $((16 - done_usr1)) to generate" "$work/usr1-resume.log"
check "SIGUSR1: the finished output equals the uninterrupted run" cmp -s "$work/long-ref/a.jsonl" "$work/usr1/a.jsonl"
# SIGKILL of one rank: the job dies at once; the rerun completes it.
"${cmd[@]}" --generate.output "$work/kill/a.jsonl" "${long[@]}" >"$work/kill.log" 2>&1 &
bg_pid=$!
wait_parts "$work/kill/a.jsonl" 3
rank_pid=$(ranks | tail -1)
[ -n "$rank_pid" ] && kill -KILL "$rank_pid"
wait "$bg_pid"; rc=$?; bg_pid=""
done_kill=$(part_lines "$work/kill/a.jsonl")
check "SIGKILL of a rank: the job fails, partial answers kept ($done_kill done)" \
  test "$rc" -ne 0 -a ! -e "$work/kill/a.jsonl" -a "$done_kill" -ge 3 -a "$done_kill" -lt 16
gen 2 "$work/kill/a.jsonl" "${long[@]}" >"$work/kill-resume.log" 2>&1
check "SIGKILL: the rerun generates only the rest" grep -q "$done_kill already answered in .*, $((16 - done_kill)) to generate" "$work/kill-resume.log"
check "SIGKILL: the finished output equals the uninterrupted run" cmp -s "$work/long-ref/a.jsonl" "$work/kill/a.jsonl"

# ---- a JSONL of questions with image files
python3 - "$work/sample/validation.jsonl" "$work/prompts.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for i, l in enumerate(open(sys.argv[1])):
        s = json.loads(l)
        f.write(json.dumps({"id": f"q{i}", "question": s["question"], "image": "sample/images/" + s["image_id"],
                            "answer": s["answer"], "mode": s["mode"], "case_id": s["case_id"]}) + "\n")
PY
gen 1 "$work/jl1/a.jsonl" --generate.input "$work/prompts.jsonl" --generate.batch_size 1 >"$work/jl1.log" 2>&1
check "JSONL input: exits 0" test $? -eq 0 -a "$(lines "$work/jl1/a.jsonl")" -eq 16
gen 2 "$work/jl2/a.jsonl" --generate.input "$work/prompts.jsonl" --generate.batch_size 1 >"$work/jl2.log" 2>&1
check "JSONL input: 2 ranks give the same file" cmp -s "$work/jl1/a.jsonl" "$work/jl2/a.jsonl"
check "JSONL input: the same prompts (token counts, questions) as the shards" python3 - "$work/jl1/a.jsonl" \
  "$work/np1/answers.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["id"] for r in a] == [f"q{i}" for i in range(16)]
assert [(r["prompt_tokens"], r["question"], r["reference"], r["mode"]) for r in a] == \
       [(r["prompt_tokens"], r["question"], r["reference"], r["mode"]) for r in b]
PY
q0=$(python3 -c "import json; print(json.loads(open('$work/prompts.jsonl').readline())['question'])")
i0=$(python3 -c "import json; print(json.loads(open('$work/prompts.jsonl').readline())['image'])")
"$bin/omnitune-generate" --model "$work/model" --prompt "$q0" --image "$work/$i0" --max-new-tokens 12 --greedy \
  --output json >"$work/cli.json" 2>"$work/cli.log"
check "JSONL input: item 0 answered as the single-prompt CLI answers it" python3 -c "
import json
a = json.loads(open('$work/jl1/a.jsonl').readline()); c = json.loads(open('$work/cli.json').read())
assert a['generated'] == c['answer'] and a['generated_tokens'] == c['new_tokens'], (a, c)"
# References set to the answers of items 0..5: those score 1 (EM, F1, ROUGE-L, sentence BLEU).
python3 - "$work/prompts.jsonl" "$work/jl1/a.jsonl" "$work/prompts-ref.jsonl" <<'PY'
import json, sys
p = [json.loads(l) for l in open(sys.argv[1])]
a = [json.loads(l) for l in open(sys.argv[2])]
with open(sys.argv[3], "w") as f:
    for i, (q, r) in enumerate(zip(p, a)):
        q["mode"] = "copied" if i < 6 else "other"
        q["answer"] = r["generated"] if i < 6 else "zzz"
        f.write(json.dumps(q) + "\n")
PY
gen 2 "$work/jl-ref/a.jsonl" --generate.input "$work/prompts-ref.jsonl" --generate.batch_size 1 >"$work/jl-ref.log" 2>&1
check "evaluation: copied references score 1, the others 0" python3 - "$work/jl-ref/a.jsonl.eval.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
c, o = ev["per_mode"]["copied"], ev["per_mode"]["other"]
assert c["count"] == 6 and o["count"] == 10, ev
assert c["exact_match"] == c["token_f1"] == c["rouge_l"] == 1.0, c
assert o["exact_match"] == 0.0 and abs(ev["overall"]["exact_match"] - 6 / 16) < 1e-12, ev
PY
# ---- base model + LoRA adapter (a 6-step omnitune-train run exports one)
SAMPLE_DIR="$work/sample" "$bin/omnitune-preprocess" --config "$src/configs/preprocess_sample.yaml" \
  --preprocess.split train --preprocess.input "$work/sample/train.jsonl" >"$work/pre-train.log" 2>&1
RUN_DIR="$work/lora" mpirun -np 1 "$bin/omnitune-train" --config "$src/configs/tiny_lora_sample.yaml" \
  --step_scheduler.max_steps 6 --step_scheduler.ckpt_every_steps 0 --step_scheduler.val_every_steps 0 \
  >"$work/lora.log" 2>&1
check "a LoRA adapter was exported" test -f "$work/lora/export-peft/adapter_model.safetensors"
gen 2 "$work/lora-gen/a.jsonl" --generate.adapter "$work/lora/export-peft" --generate.batch_size 1 >"$work/lora-gen.log" 2>&1
check "generate.adapter: exits 0, answers differ from the base model's" sh -c \
  "grep -q 'LoRA adapter' '$work/lora-gen.log' && test -s '$work/lora-gen/a.jsonl' && ! cmp -s '$work/lora-gen/a.jsonl' '$work/np1/answers.jsonl'"
"$bin/omnitune-generate" --model "$work/model" --adapter "$work/lora/export-peft" --prompt "$q0" --image "$work/$i0" \
  --max-new-tokens 12 --greedy --output json >"$work/cli-lora.json" 2>"$work/cli-lora.log"
check "generate.adapter: item 0 answered as the CLI's --adapter answers it" python3 -c "
import json
a = json.loads(open('$work/lora-gen/a.jsonl').readline()); c = json.loads(open('$work/cli-lora.json').read())
assert a['generated'] == c['answer'], (a, c)"

sed -i 's#"image": "sample/images/[^"]*"#"image": "sample/images/absent.png"#' "$work/prompts-ref.jsonl"
gen 1 "$work/jl-bad/a.jsonl" --generate.input "$work/prompts-ref.jsonl" >"$work/bad-image.log" 2>&1
check "a missing image is a clear error naming the line and the file" \
  grep -q "prompts-ref.jsonl:1: image .*absent.png not found" "$work/bad-image.log"

if [ "$fail" -ne 0 ]; then for f in "$work"/*.log; do echo "--- $f"; tail -n 30 "$f"; done; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
