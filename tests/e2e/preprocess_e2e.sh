#!/usr/bin/env bash
# omnitune-preprocess end to end: the real MedPix sample Parquet gives identical shards under 1, 2
# and 4 MPI ranks; every kind of bad row lands in rejects.jsonl with its reason (zero-byte,
# truncated and corrupt images, a PNG named .jpg that must still work, a decompression bomb,
# non-UTF-8 text, empty question, duplicate id, over-length); a run killed with SIGKILL and re-run
# ends with the same checksums; a resumed run reads kept shards' work records instead of their
# image files (deleted here) and rejects the same rows; images shared between train and validation
# are reported; 1 and 4 decode threads write the same bytes; gzip image compression reads back to
# the same pixels; SIGTERM and Ctrl-C stop it.
# Prints "N passed, M failed". Usage: preprocess_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
fixtures="$src/tests/fixtures"
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
if [ ! -d "$fixtures" ]; then echo "FAIL: shared fixtures missing at $fixtures"; echo "0 passed, 1 failed"; exit 1; fi

# A tiny model directory (config.json, preprocessor_config.json) with the real Gemma 3 tokenizer.
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/model" --tokenizer "$fixtures/gemma3-tokenizer/tokenizer.model" \
  --dtype float32 >"$work/init.log" 2>&1
pp() { "$bin/omnitune-preprocess" --preprocess.model_dir "$work/model" "$@"; }

# 1. Rank-count invariance on the real MedPix sample.
for np in 1 2 4; do
  mpirun -np $np --oversubscribe "$bin/omnitune-preprocess" --preprocess.model_dir "$work/model" \
    --preprocess.input "$fixtures/medpix/sample.parquet" --preprocess.output_dir "$work/ranks$np" \
    --preprocess.samples_per_shard 16 >"$work/ranks$np.log" 2>&1
done
summary() { python3 -c "
import json,sys; m=json.load(open(sys.argv[1]))
print(json.dumps([m['counts'], [(s['file'], s['sha256'], s['samples']) for s in m['shards']], m['prompt_tokens'], m['rejects_by_reason']]))" "$1"; }
check "1-rank run wrote a manifest with 60 samples" python3 -c "
import json; m=json.load(open('$work/ranks1/train/manifest.json')); assert m['counts']['samples']==60 and m['counts']['distinct_images']==6, m['counts']"
check "2 ranks give the same shards as 1" test "$(summary "$work/ranks1/train/manifest.json")" = "$(summary "$work/ranks2/train/manifest.json")"
check "4 ranks give the same shards as 1" test "$(summary "$work/ranks1/train/manifest.json")" = "$(summary "$work/ranks4/train/manifest.json")"
check "each distinct image stored once" python3 -c "
import json; m=json.load(open('$work/ranks1/train/manifest.json')); assert sum(s['images'] for s in m['shards'])==6"

# 2. Bad rows, as MedPix-columns JSONL with image files.
mkdir -p "$work/bad/images"
python3 - "$work/bad" "$fixtures/images/cxr-gray-512.png" <<'PY'
import json, struct, sys, zlib, shutil
d, good = sys.argv[1], sys.argv[2]
img = d + "/images/"
shutil.copy(good, img + "good.png")
shutil.copy(good, img + "named.jpg")                    # a PNG with a .jpg name: must decode
open(img + "empty.png", "wb").close()                   # zero bytes
data = open(good, "rb").read()
open(img + "cut.png", "wb").write(data[: len(data) // 3])   # truncated
open(img + "junk.png", "wb").write(b"this is not an image" * 10)
def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)) + \
       chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
open(img + "bomb.png", "wb").write(bomb)
rows = [("good.png", "What is shown?", "A chest X-ray.", "r0"),
        ("named.jpg", "What modality?", "X-ray.", "r1"),
        ("empty.png", "Q?", "A.", "r2"),
        ("cut.png", "Q?", "A.", "r3"),
        ("junk.png", "Q?", "A.", "r4"),
        ("bomb.png", "Q?", "A.", "r5"),
        ("missing.png", "Q?", "A.", "r6"),
        ("good.png", "   ", "A.", "r7"),
        ("good.png", "Q?", "A.", "r1"),
        ("good.png", "Describe " + "at length " * 400, "A.", "r9")]
with open(d + "/train.jsonl", "wb") as f:
    for image, q, a, rid in rows:
        f.write((json.dumps({"image_id": image, "question": q, "answer": a, "id": rid, "mode": "m", "case_id": "c"}) + "\n").encode())
    f.write(b'{"image_id": "good.png", "question": "caf\xe9?", "answer": "A.", "id": "r10"}\n')  # Latin-1, not UTF-8
PY
pp --preprocess.input "$work/bad/train.jsonl" --preprocess.output_dir "$work/badout" --preprocess.columns.id id \
  --preprocess.max_length 300 >"$work/bad.log" 2>&1
check "bad-row run succeeds with on_error=skip" test $? -eq 0
rej="$work/badout/train/rejects.jsonl"
reason() { python3 -c "
import json,sys
for l in open('$rej'):
    r=json.loads(l)
    if r['id']==sys.argv[1]: print(r['reason']); break" "$1"; }
check "kept only the good rows (good + PNG named .jpg)" python3 -c "
import json; m=json.load(open('$work/badout/train/manifest.json')); assert m['counts']['samples']==2 and m['counts']['rejected']==9, m['counts']"
check "zero-byte image rejected" bash -c "[[ \"$(reason r2)\" == *'empty'* ]]"
check "truncated image rejected" bash -c "[[ \"$(reason r3)\" == *cut.png* ]]"
check "corrupt image rejected" bash -c "[[ \"$(reason r4)\" == *junk.png* ]]"
check "decompression bomb rejected by the pixel limit" bash -c "[[ \"$(reason r5)\" == *exceeds* ]]"
check "missing image file rejected" bash -c "[[ \"$(reason r6)\" == *missing.png* ]]"
check "empty question rejected" test "$(reason r7)" = "empty question"
check "duplicate id rejected" bash -c "[[ \"$(reason r1)\" == *duplicate* ]]"
check "over-length rejected (drop)" bash -c "[[ \"$(reason r9)\" == over-length* ]]"
check "non-UTF-8 text rejected" python3 -c "
import json
rows = [json.loads(l) for l in open('$rej')]
assert any(r['row'] == 10 and r['reason'] == 'text is not valid UTF-8' for r in rows), rows"
pp --preprocess.input "$work/bad/train.jsonl" --preprocess.output_dir "$work/badfail" --preprocess.on_error fail >"$work/fail.log" 2>&1
check "on_error=fail stops with the row and reason" bash -c "[ $? -ne 0 ] && grep -q 'row 2' '$work/fail.log'"
pp --preprocess.input "$work/bad/train.jsonl" --preprocess.output_dir "$work/trunc" --preprocess.columns.id id \
  --preprocess.max_length 300 --preprocess.overlong truncate_answer >"$work/trunc.log" 2>&1
check "prompt longer than max_length is dropped even with truncate_answer" bash -c "grep -q '\"r9\"' '$work/trunc/train/rejects.jsonl'"
# A multi-turn conversation whose second image lies beyond max_length: truncating the first answer
# would drop that image's soft tokens, so the row is rejected with that reason (not kept broken).
python3 - "$work/bad" <<'PY'
import json, sys
d = sys.argv[1]
turn = lambda q: {"role": "user", "content": [{"type": "image", "image": "images/good.png"}, {"type": "text", "text": q}]}
ans = lambda a: {"role": "assistant", "content": [{"type": "text", "text": a}]}
with open(d + "/multi.jsonl", "w") as f:
    f.write(json.dumps({"id": "m1", "messages": [turn("Q1?"), ans("at length " * 200), turn("Q2?"), ans("B.")]}) + "\n")
    f.write(json.dumps({"id": "m2", "messages": [turn("Q1?"), ans("A."), turn("Q2?"), ans("B.")]}) + "\n")
PY
pp --preprocess.input "$work/bad/multi.jsonl" --preprocess.output_dir "$work/multi" --preprocess.max_length 300 \
  --preprocess.overlong truncate_answer >"$work/multi.log" 2>&1
check "multi-turn: truncation that would cut a later image rejects the row; the short one is kept" python3 -c "
import json
rej = [json.loads(l) for l in open('$work/multi/train/rejects.jsonl')]
m = json.load(open('$work/multi/train/manifest.json'))
assert m['counts']['samples'] == 1 and len(rej) == 1, (m['counts'], rej)
assert 'would cut an image or audio item' in rej[0]['reason'], rej"

# 3. SIGKILL mid-run, then resume: same checksums as the uninterrupted run. 4000 rows (500 shards):
#    with fewer, a fast machine finishes before the poll below sees 10 shards and can kill it.
big="$work/big.jsonl"
python3 - "$big" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(4000):
        f.write(json.dumps({"image_id": "good.png", "question": f"Question {i}?", "answer": f"Answer {i}."}) + "\n")
PY
pp --preprocess.input "$big" --preprocess.image_dir "$work/bad/images" --preprocess.output_dir "$work/full" \
  --preprocess.samples_per_shard 8 >"$work/full.log" 2>&1
# exec: $! must be the preprocessor itself (a backgrounded function is a subshell whose SIGKILL
# would leave the real run going on beside the resumed one).
(exec "$bin/omnitune-preprocess" --preprocess.model_dir "$work/model" --preprocess.input "$big" \
  --preprocess.image_dir "$work/bad/images" --preprocess.output_dir "$work/killed" \
  --preprocess.samples_per_shard 8 >"$work/killed.log" 2>&1) &
pid=$!
for _ in $(seq 1 1200); do  # up to 60 s: start-up under a loaded machine (ctest -j) is slow
  n=$(ls "$work/killed/train" 2>/dev/null | grep -c '^shard-.*\.h5$')
  [ "$n" -ge 10 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
check "the run was killed (not finished)" bash -c "! grep -q 'samples.*shard(s)' '$work/killed.log'"
check "the killed run left no manifest" test ! -f "$work/killed/train/manifest.json"
touch "$work/killed/train/shard-00003.h5.tmp.99999"  # as a kill during a shard's write leaves
pp --preprocess.input "$big" --preprocess.image_dir "$work/bad/images" --preprocess.output_dir "$work/killed" \
  --preprocess.samples_per_shard 8 >"$work/resume.log" 2>&1
check "resume reused complete shards" grep -Eq "\(([1-9][0-9]*) reused\)" "$work/resume.log"
check "resumed run has the uninterrupted run's checksums" \
  test "$(summary "$work/full/train/manifest.json")" = "$(summary "$work/killed/train/manifest.json")"
check "resume removed the killed run's temporaries" bash -c "! ls '$work/killed/train' | grep -q tmp"

# 3b. Resume without decoding again: shards 3 and 4 of 5 are lost, and the image files that only
#     shards 0-2 use are deleted; the resume decodes only shards 3-4's images, rejects the rows
#     using a bad image homed in kept shard 0 with the same reason, and ends with the same bytes.
mkdir -p "$work/res/images"
python3 - "$work/res" "$fixtures/images/cxr-gray-512.png" <<'PY'
import json, struct, sys, zlib
d, src = sys.argv[1], open(sys.argv[2], "rb").read()
def variant(tag):  # same pixels, other bytes: a tEXt chunk after IHDR
    body = b"Comment\0" + tag.encode()
    return src[:33] + struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xffffffff) + src[33:]
for i in range(10):
    open(f"{d}/images/v{i}.png", "wb").write(variant(f"v{i}"))
open(f"{d}/images/common.png", "wb").write(variant("common"))
open(f"{d}/images/junk.png", "wb").write(b"not an image at all" * 8)
special = {2: "common.png", 34: "common.png", 3: "junk.png", 37: "junk.png"}
with open(f"{d}/rows.jsonl", "w") as f:
    for i in range(40):
        f.write(json.dumps({"image_id": special.get(i, f"v{i // 4}.png"), "question": f"Q{i}?", "answer": f"A{i}."}) + "\n")
PY
rpp() { pp --preprocess.input "$work/res/rows.jsonl" --preprocess.samples_per_shard 8 "$@"; }
rpp --preprocess.output_dir "$work/res_full" >"$work/res_full.log" 2>&1
check "fresh run decodes each distinct image once (12)" grep -q "decoded 12 image(s)" "$work/res_full.log"
check "fresh run writes a work record per shard" test "$(ls "$work/res_full/train" | grep -c '^shard-.*\.work\.json$')" -eq 5
cp -r "$work/res_full" "$work/res_cut"
rm -f "$work/res_cut/train/shard-0000"[34]".h5" "$work/res_cut/train/shard-0000"[34]".work.json" \
  "$work/res_cut/train/manifest.json" "$work/res_cut/train/rejects.jsonl"
mkdir -p "$work/res/moved" && mv "$work/res/images/v"[0-5]".png" "$work/res/moved/"
rpp --preprocess.output_dir "$work/res_cut" >"$work/res_cut.log" 2>&1
check "resume succeeds although kept shards' image files are gone" test $? -eq 0
check "resume kept 3 shards and decoded only the 4 images of the 2 lost ones" \
  grep -q "(3 reused); decoded 4 image(s)" "$work/res_cut.log"
check "resumed run has the fresh run's checksums" \
  test "$(summary "$work/res_full/train/manifest.json")" = "$(summary "$work/res_cut/train/manifest.json")"
check "resumed run rejects the same rows for the same reasons (bad image homed in a kept shard)" \
  bash -c "cmp -s '$work/res_full/train/rejects.jsonl' '$work/res_cut/train/rejects.jsonl' && grep -q '\"row\":37' '$work/res_cut/train/rejects.jsonl'"
echo "a changed shard is not kept" >>"$work/res_cut/train/shard-00001.h5"
mv "$work/res/moved/"*.png "$work/res/images/"
rpp --preprocess.output_dir "$work/res_cut" >"$work/res_bad.log" 2>&1
check "a shard whose bytes no longer match its record is rewritten" grep -q "(4 reused); decoded 2 image(s)" "$work/res_bad.log"
check "... and the run again has the fresh run's checksums" \
  test "$(summary "$work/res_full/train/manifest.json")" = "$(summary "$work/res_cut/train/manifest.json")"

# 4. Train/validation image leak report.
python3 - "$work/bad" <<'PY'
import json, sys
with open(sys.argv[1] + "/validation.jsonl", "w") as f:
    f.write(json.dumps({"image_id": "good.png", "question": "Seen before?", "answer": "Yes."}) + "\n")
PY
pp --preprocess.input "$work/bad/validation.jsonl" --preprocess.output_dir "$work/badout" --preprocess.split validation \
  >"$work/leak.log" 2>&1
check "validation sharing a train image is reported" bash -c "grep -q \"shares 1 image(s) with split 'train'\" '$work/leak.log' && python3 -c \"
import json; m=json.load(open('$work/badout/validation/manifest.json')); assert m['shared_images_with_other_splits']=={'train': 1}\""

# 5. Other inputs: MedPix-columns CSV (quoted fields with commas, newlines and quotes) and HF
#    message-list JSONL (the sample set's conversations.jsonl).
printf 'image_id,mode,case_id,question,answer\ngood.png,alignment,MPX1,"Where, exactly?","Left, ""mostly""\nand up."\nnamed.jpg,alignment,MPX2,What?,X-ray.\n' \
  > "$work/bad/rows.csv"
pp --preprocess.input "$work/bad/rows.csv" --preprocess.output_dir "$work/csv" >"$work/csv.log" 2>&1
check "CSV rows become samples" python3 -c "
import json; m=json.load(open('$work/csv/train/manifest.json')); assert m['format']=='medpix_csv' and m['counts']['samples']==2, m['counts']"
"$bin/omnitune-inspect" "$work/csv/train" --sample 0 --image-out "$work/csv0.png" >"$work/csv_inspect.log" 2>&1
check "a quoted CSV answer keeps its comma, quotes and newline" \
  python3 -c "t=open('$work/csv_inspect.log').read(); assert 'Left, \"mostly\"\nand up.' in t, t[-400:]"
"$bin/omnitune-make-sample" --out "$work/sample" >/dev/null 2>&1
pp --preprocess.input "$work/sample/conversations.jsonl" --preprocess.output_dir "$work/msgs" >"$work/msgs.log" 2>&1
check "HF message-list JSONL becomes samples" python3 -c "
import json; m=json.load(open('$work/msgs/train/manifest.json')); assert m['format']=='messages_jsonl' and m['counts']['samples']==48, m['counts']"
# Images enter a shard as they are decoded, in slot order whichever thread finishes first: the
# same bytes with 1 and 4 decode threads (one shard holding every image of the sample set).
for t in 1 4; do
  pp --preprocess.input "$work/sample/conversations.jsonl" --preprocess.output_dir "$work/threads$t" \
    --preprocess.threads $t --preprocess.samples_per_shard 64 >"$work/threads$t.log" 2>&1
done
check "1 and 4 decode threads write the same shard bytes" \
  test "$(summary "$work/threads1/train/manifest.json")" = "$(summary "$work/threads4/train/manifest.json")"
check "the one-shard run stored the sample set's images" python3 -c "
import json; m=json.load(open('$work/threads4/train/manifest.json')); assert len(m['shards'])==1 and m['shards'][0]['images']>=8, m['shards']"

# 6. omnitune-inspect SHARDS: counts, one sample back to text with its targets, its image as PNG.
"$bin/omnitune-inspect" "$work/ranks1/train" --sample 17 --image-out "$work/s17.png" >"$work/inspect.log" 2>&1
check "inspect shows the split counts" grep -q '"samples":60' "$work/inspect.log"
check "inspect decodes the conversation with the image block" \
  grep -q '<start_of_turn>user' "$work/inspect.log"
check "inspect shows the image soft tokens collapsed" grep -q '<image_soft_token> x16' "$work/inspect.log"
check "inspect lists the training targets ending in <end_of_turn>" \
  python3 -c "t=open('$work/inspect.log').read().split('--- training targets')[1]; assert '<end_of_turn>' in t and '<start_of_turn>' not in t"
check "inspect wrote the sample's image as a PNG" python3 -c "
import struct; b=open('$work/s17.png','rb').read(); assert b[:8]==b'\x89PNG\r\n\x1a\n' and struct.unpack('>II', b[16:24])==(64, 64)"

# 7. Optional image compression: gzip-deflated chunks read back to the same pixels, smaller shards.
mpirun -np 2 --oversubscribe "$bin/omnitune-preprocess" --preprocess.model_dir "$work/model" \
  --preprocess.input "$fixtures/medpix/sample.parquet" --preprocess.output_dir "$work/gzip" \
  --preprocess.samples_per_shard 16 --preprocess.image_compression gzip >"$work/gzip.log" 2>&1
"$bin/omnitune-inspect" "$work/gzip/train" --sample 17 --image-out "$work/s17z.png" >"$work/inspect_gzip.log" 2>&1
check "a gzip-compressed split decodes sample 17's image like the raw one" cmp "$work/s17.png" "$work/s17z.png"
check "gzip chunks carry HDF5's deflate filter, hold the same pixels and take less space" /usr/bin/python3 -c "
import glob, h5py, numpy as np, os
raw = sorted(glob.glob('$work/ranks1/train/shard-*.h5')); z = sorted(glob.glob('$work/gzip/train/shard-*.h5'))
assert len(raw) == len(z) == 4
for a, b in zip(raw, z):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert fb['images/gray'].compression == 'gzip' and fa['images/gray'].compression is None
        assert np.array_equal(fa['images/gray'][...], fb['images/gray'][...])
def stored(files):
    total = 0
    for f in files:
        with h5py.File(f) as h: total += h['images/gray'].id.get_storage_size()
    return total
assert stored(z) < 0.8 * stored(raw), (stored(z), stored(raw))"

# 8. The preprocessor installs no stop handler: SIGTERM (scancel) and Ctrl-C end it at once (here
#    while it waits to open an input that is a FIFO nobody writes: handled and restarted, the open
#    would block until timeout's SIGKILL, exit 137).
mkfifo "$work/never.jsonl"
for sig in TERM INT; do
  timeout -s "$sig" -k 20 2 "$bin/omnitune-preprocess" --preprocess.model_dir "$work/model" \
    --preprocess.input "$work/never.jsonl" --preprocess.output_dir "$work/never" >"$work/never-$sig.log" 2>&1
  check "SIG$sig ends a preprocess run at once" test $? -eq 124
done

if [ "$fail" -ne 0 ]; then for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done; cat "$rej" 2>/dev/null; fi
finish
