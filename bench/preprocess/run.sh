#!/usr/bin/env bash
# bench/preprocess: images/s per rank of omnitune-preprocess end to end (1 rank and 2 ranks, one
# decode thread per rank), against (1) the floor under it, our decoders and resize alone
# (preprocess_floor: decode-only and decode+resize, no hashing, HDF5 or tokenizer) and (2) a Python
# baseline doing the same per image: SHA-256, Pillow decode + EXIF + BILINEAR resize, h5py write
# (python_baseline.py, Debian python3-pil + python3-h5py). All measured in the same run,
# interleaved, medians of a few repetitions (the machine is noisy). Two data sets: the images of
# omnitune-make-sample's sample set and the fixture images (tests/fixtures/images), each
# repeated as distinct files (a PNG tEXt / JPEG COM marker changes the bytes, not the pixels) so
# dedup does not collapse them. Target size: Gemma 3's 896x896.
# A third set is the reference workload's own images: the 6 distinct MedPix PNGs of the fixture
# Parquet (8-bit RGB with R = G = B, 263x324 to 512x512) x 342 = 2052 images, the number of
# distinct images in MedPix-VQA.
# Goals (issue #3): omnitune >= 4x Python per core; omnitune within 2x of the decode+resize floor.
# Usage: run.sh [--tiny] [BUILD_DIR]   (--tiny: a few images, one repetition; the smoke test)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/preprocess"
tiny=0
if [ "${1:-}" = "--tiny" ]; then tiny=1; shift; fi
build=${1:-$root/build/cpu}
bin=$build/bin
floor=$build/bench/preprocess_floor
fixtures="$root/tests/fixtures"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
for need in "$bin/omnitune-preprocess" "$bin/omnitune-make-sample" "$bin/omnitune-init-model" "$floor"; do
  [ -x "$need" ] || { echo "run.sh: $need not built (cmake --build $build)" >&2; exit 1; }
done
"$py" -c "import PIL, h5py, numpy" 2>/dev/null || {
  echo "run.sh: $py lacks Pillow/h5py/numpy: install python3-pil python3-h5py python3-numpy (scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
if [ $tiny -eq 1 ]; then reps=1; copies_sample=1; copies_fixture=4; copies_medpix=2; else reps=3; copies_sample=12; copies_fixture=100; copies_medpix=342; fi
W=896; H=896

# A Gemma 3 shaped model directory (the processor size decides the work) with the sample tokenizer.
"$bin/omnitune-make-sample" --out "$work/sample" >/dev/null 2>&1
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/model" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
  --dtype float32 >/dev/null 2>&1
python3 - "$work/model/preprocessor_config.json" $W $H <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["size"] = {"width": int(sys.argv[2]), "height": int(sys.argv[3])}
json.dump(p, open(sys.argv[1], "w"), indent=2)
PY

# make_set NAME COPIES FILE...: COPIES distinct variants of each file + a MedPix-columns JSONL.
make_set() {
  local name=$1 copies=$2; shift 2
  mkdir -p "$work/$name/images"
  python3 - "$work/$name" "$copies" "$@" <<'PY'
import json, os, struct, sys, zlib
d, copies, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
names = []
for f in files:
    data = open(f, "rb").read()
    base, ext = os.path.splitext(os.path.basename(f))
    for c in range(copies):
        tag = f"bench copy {c}".encode()
        if data[:8] == b"\x89PNG\r\n\x1a\n":  # a tEXt chunk after IHDR
            body = b"Comment\0" + tag
            out = data[:33] + struct.pack(">I", len(body)) + b"tEXt" + body + \
                  struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xffffffff) + data[33:]
        else:  # JPEG: a COM segment after SOI
            out = data[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + data[2:]
        name = f"{base}_{c:04d}{ext}"
        open(f"{d}/images/{name}", "wb").write(out)
        names.append(name)
with open(f"{d}/rows.jsonl", "w") as rows, open(f"{d}/files.txt", "w") as lst:
    for i, n in enumerate(names):
        rows.write(json.dumps({"image_id": n, "question": f"What is shown in image {i}?", "answer": "A shape."}) + "\n")
        lst.write(f"{d}/images/{n}\n")
PY
}
make_set sample "$copies_sample" "$work/sample/images/"*
make_set fixtures "$copies_fixture" "$fixtures/images/"*.png
mkdir -p "$work/medpix_src"
"$floor" --extract "$fixtures/medpix/sample.parquet" image "$work/medpix_src" 2>/dev/null
make_set medpix "$copies_medpix" "$work/medpix_src/"*.png

now() { date +%s.%N; }
# bench_set NAME: runs every contender `reps` times, interleaved; appends "name contender rate" lines.
bench_set() {
  local name=$1 dir="$work/$1"
  local n; n=$(wc -l < "$dir/files.txt")
  mapfile -t files < "$dir/files.txt"
  local args=(--preprocess.model_dir "$work/model" --preprocess.input "$dir/rows.jsonl"
              --preprocess.image_dir "$dir/images" --preprocess.threads 1 --preprocess.max_length 4096)
  for rep in $(seq 1 "$reps"); do
    rm -rf "$dir/out1"; local t0; t0=$(now)
    "$bin/omnitune-preprocess" "${args[@]}" --preprocess.output_dir "$dir/out1" >"$dir/omni1.log" 2>&1
    echo "$name omnitune_1rank $(python3 -c "print($n / ($(now) - $t0))")" >> "$work/results"
    grep -o "rank 0 timing: .*" "$dir/omni1.log" | sed "s/^/$name rep $rep: /" >> "$work/timing"
    # The same run without process start (MPI init, tokenizer) and manifest: its logged phases.
    echo "$name omnitune_inproc $(python3 -c "
import re, sys
t = re.search(r'load ([\d.e-]+) s, hash ([\d.e-]+) s, decode ([\d.e-]+) s .*encode\+write ([\d.e-]+) s', open(sys.argv[1]).read())
print($n / sum(float(x) for x in t.groups()))" "$dir/omni1.log")" >> "$work/results"
    if command -v mpirun >/dev/null 2>&1; then
      rm -rf "$dir/out2"; t0=$(now)
      mpirun -np 2 --oversubscribe "$bin/omnitune-preprocess" "${args[@]}" --preprocess.output_dir "$dir/out2" \
        >"$dir/omni2.log" 2>&1
      echo "$name omnitune_2ranks $(python3 -c "print($n / ($(now) - $t0) / 2)")" >> "$work/results"
    fi
    local pyout; pyout=$("$py" "$here/python_baseline.py" "$dir/py.h5" "${W}x${H}" "${files[@]}")
    echo "$name python $(python3 -c "p='$pyout'.split(); print(int(p[1]) / float(p[2]))")" >> "$work/results"
    pyout=$("$py" "$here/python_baseline.py" - "${W}x${H}" "${files[@]}")
    echo "$name python_decode_resize $(python3 -c "p='$pyout'.split(); print(int(p[1]) / float(p[2]))")" >> "$work/results"
    "$floor" --size "${W}x${H}" --reps 1 "${files[@]}" 2>/dev/null | sed "s/^floor /$name floor_/" >> "$work/results"
  done
  # Sanity: both tools stored the same number of distinct images.
  python3 - "$dir/out1/train/manifest.json" "$n" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); assert m["counts"]["distinct_images"] == int(sys.argv[2]), m["counts"]
PY
}
: > "$work/results"; : > "$work/timing"
bench_set sample
bench_set fixtures
bench_set medpix

echo "bench/preprocess: $(getconf _NPROCESSORS_ONLN) cores, ${W}x${H} output, medians of $reps repetition(s); images/s per rank (one thread each)"
python3 - "$work/results" "$work/sample/files.txt" "$work/fixtures/files.txt" "$work/medpix/files.txt" <<'PY'
import collections, statistics, sys
rates = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, who, rate = line.split()
    rates[(name, who)].append(float(rate))
counts = {name: sum(1 for _ in open(path)) for name, path in zip(("sample", "fixtures", "medpix"), sys.argv[2:5])}
rows = [("omnitune_1rank", "omnitune-preprocess, 1 rank (end to end)"),
        ("omnitune_inproc", "  same run, its phases only (no process start)"),
        ("omnitune_2ranks", "omnitune-preprocess, 2 ranks, per rank"),
        ("python", "Python: Pillow + h5py, 1 process"),
        ("python_decode_resize", "Python: Pillow decode + resize only"),
        ("floor_decode_resize", "floor: our decode + resize"),
        ("floor_decode_resize_sha256", "floor: our decode + resize + output SHA-256"),
        ("floor_decode_only", "floor: our decode only")]
for name in ("sample", "fixtures", "medpix"):
    med = {who: statistics.median(rates[(name, who)]) for _, who in [(0, w) for w, _ in rows] if rates[(name, who)]}
    print(f"\n[{name}] {counts[name]} distinct images")
    for who, label in rows:
        if who in med:
            print(f"  {label:44s} {med[who]:9.1f} images/s")
    print(f"ratio omnitune/python per core ({name}, goal >= 4x): {med['omnitune_1rank'] / med['python']:.2f}x"
          f"  (phases only: {med['omnitune_inproc'] / med['python']:.2f}x)")
    print(f"ratio floor/omnitune ({name}, decode+resize floor vs end to end, goal <= 2x): "
          f"{med['floor_decode_resize'] / med['omnitune_1rank']:.2f}x")
    print(f"  (decode+resize alone, ours vs Pillow per core: {med['floor_decode_resize'] / med['python_decode_resize']:.2f}x)")
    # Shards must be checksummed (manifest SHA-256), which reads every stored byte once: a set
    # where that floor is under 4x Python cannot meet the first goal whatever the implementation.
    print(f"  (floor with the output SHA-256 / python per core: {med['floor_decode_resize_sha256'] / med['python']:.2f}x "
          f"= the best ratio any writer of these shards could reach; omnitune reaches "
          f"{med['omnitune_1rank'] / med['floor_decode_resize_sha256']:.2f} of that floor)")
    print(f"  (decode+resize floor / floor with the output SHA-256: "
          f"{med['floor_decode_resize'] / med['floor_decode_resize_sha256']:.2f}x = the best floor ratio any writer of these shards could reach)")
PY
echo
echo "omnitune 1-rank phase times (from its log):"
sed 's/^/  /' "$work/timing"
