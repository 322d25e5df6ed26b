#!/usr/bin/env bash
# omnitune-forward against the fixture references, through files as a user would run it:
#   - Gemma 3 (gemma3-tiny-ref): multimodal prompt with token types -> logits within 1e-4;
#   - Gemma 3n (gemma3n-tiny-ref): a text batch longer than the sliding window -> logits within 1e-4
#     and 4 greedy tokens on the KV cache equal to the reference's; a prompt mixing audio (log-mel
#     features + mask) and image soft tokens with hard vision/audio ids -> logits within 1e-4;
#   - omnitune-export --submodel slices the Gemma 3n fixture; the result runs in omnitune-forward.
# Prints "N passed, M failed". Usage: forward_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
fx=$src/../shared/fixtures
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then echo "PASS: $name"; pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi; }
py=/usr/bin/python3  # Debian's, with numpy

# Safetensors in and out with numpy: `st.py pick OUT SRC name=srcname ...` copies tensors into a new
# file; `st.py close A name B name TOL` compares two tensors; `st.py equal A name B name [slice]`.
cat > "$work/st.py" <<'PY'
import json, struct, sys
import numpy as np
DT = {"F32": np.float32, "I64": np.int64, "BOOL": np.bool_, "F16": np.float16, "U8": np.uint8, "I32": np.int32}
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        a, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + a:8 + n + e], dtype=DT[v["dtype"]]).reshape(v["shape"])
    return out
def save(p, t):
    rev = {np.dtype(v): k for k, v in DT.items()}; h = {}; off = 0; blobs = []
    for k, a in t.items():
        a = np.ascontiguousarray(a); h[k] = {"dtype": rev[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes; blobs.append(a.tobytes())
    hj = json.dumps(h).encode(); hj += b" " * (-len(hj) % 8)
    open(p, "wb").write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
cmd = sys.argv[1]
if cmd == "pick":
    src = load(sys.argv[3]); save(sys.argv[2], {kv.split("=")[0]: src[kv.split("=")[1]] for kv in sys.argv[4:]})
elif cmd == "close":
    a = load(sys.argv[2])[sys.argv[3]]; b = load(sys.argv[4])[sys.argv[5]]
    d = float(np.abs(a.astype(np.float64) - b).max()); print(f"  max |diff| {d:.3g}"); sys.exit(0 if a.shape == b.shape and d <= float(sys.argv[6]) else 1)
elif cmd == "equal":
    a = load(sys.argv[2])[sys.argv[3]]; b = load(sys.argv[4])[sys.argv[5]]
    if len(sys.argv) > 6: b = b[:, int(sys.argv[6]):]
    print(f"  {a.tolist()} vs {b.tolist()}"); sys.exit(0 if np.array_equal(a, b) else 1)
PY
st() { $py "$work/st.py" "$@"; }
fwd() { "$bin/omnitune-forward" "$@" >"$work/fwd.log" 2>&1 || { tail -5 "$work/fwd.log"; return 1; }; }

# ---- Gemma 3
g3=$fx/gemma3-tiny-ref
st pick "$work/g3-in.safetensors" "$g3/reference.safetensors" input_ids=input_ids pixel_values=pixel_values token_type_ids=token_type_ids
check "Gemma 3: omnitune-forward runs" fwd --model "$g3" --inputs "$work/g3-in.safetensors" --out "$work/g3-out.safetensors"
check "Gemma 3: multimodal logits within 1e-4" st close "$work/g3-out.safetensors" logits "$g3/reference.safetensors" logits 1e-4

# ---- Gemma 3n
g3n=$fx/gemma3n-tiny-ref
st pick "$work/text-in.safetensors" "$g3n/reference.safetensors" input_ids=text.input_ids
check "Gemma 3n: text batch with 4 greedy tokens runs" \
  fwd --model "$g3n" --inputs "$work/text-in.safetensors" --out "$work/text-out.safetensors" --greedy-new-tokens 4
check "Gemma 3n: text logits within 1e-4 (KV sharing, sliding window)" \
  st close "$work/text-out.safetensors" logits "$g3n/reference.safetensors" text.logits 1e-4
check "Gemma 3n: greedy tokens on the KV cache equal the reference's" \
  st equal "$work/text-out.safetensors" generated_ids "$g3n/reference.safetensors" text.greedy_ids 20
st pick "$work/mm-in.safetensors" "$g3n/reference.safetensors" input_ids=mm.input_ids pixel_values=vision.pixel_values \
  input_features=audio.input_features input_features_mask=audio.input_features_mask
check "Gemma 3n: audio + image prompt runs" fwd --model "$g3n" --inputs "$work/mm-in.safetensors" --out "$work/mm-out.safetensors"
check "Gemma 3n: audio + image prompt logits within 1e-4" \
  st close "$work/mm-out.safetensors" logits "$g3n/reference.safetensors" mm.logits 1e-4
check "Gemma 3n: the log names the vision layout read from the weights" grep -q "vision tower: stage 0" "$work/fwd.log"

# ---- MatFormer sub-model: sliced by omnitune-export, then run by omnitune-forward
check "Gemma 3n: omnitune-export --submodel writes a 7-layer model" \
  "$bin/omnitune-export" --model "$g3n" --submodel "skip=6;ffn=64" --out "$work/sub" >"$work/sub.log" 2>&1
check "Gemma 3n: the sub-model runs in omnitune-forward" \
  fwd --model "$work/sub" --inputs "$work/text-in.safetensors" --out "$work/sub-out.safetensors"
check "Gemma 3n: the sub-model's config says 7 layers" grep -q '"num_hidden_layers": 7' "$work/sub/config.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
