#!/usr/bin/env bash
# omnitune-forward against the fixture references, through files as a user would run it:
#   - Gemma 3 (gemma3-tiny-ref): multimodal prompt with token types -> logits within 1e-4;
#   - Gemma 3n (gemma3n-tiny-ref-small): a text batch longer than the sliding window -> logits within 1e-4
#     and 4 greedy tokens on the KV cache equal to the reference's; a prompt mixing audio (log-mel
#     features + mask) and image soft tokens with hard vision/audio ids -> logits within 1e-4;
#   - omnitune-export --submodel slices the Gemma 3n fixture; the result runs in omnitune-forward;
#   - omnitune-init-model --preset tiny-3n sized to a tokenizer with the sample set's special pieces
#     runs an image + audio prompt to finite logits and greedy tokens.
# Prints "N passed, M failed". Usage: forward_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$1; src=$2
fx=$src/tests/fixtures
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
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
elif cmd == "mm-prompt":  # mm-prompt OUT MODEL_DIR: an image + audio prompt for a Gemma 3n directory
    c = json.load(open(sys.argv[3] + "/config.json")); side = json.load(open(sys.argv[3] + "/preprocessor_config.json"))["size"]["height"]
    ids = [c["text_config"]["bos_token_id"], c["boi_token_id"]] + [c["image_token_id"]] * c["vision_soft_tokens_per_image"] + \
          [c["eoi_token_id"], c["boa_token_id"]] + [c["audio_token_id"]] * c["audio_soft_tokens_per_image"] + [c["eoa_token_id"], 20, 21, 22]
    rng = np.random.default_rng(0)
    save(sys.argv[2], {"input_ids": np.array([ids], dtype=np.int64), "pixel_values": rng.random((1, 3, side, side), dtype=np.float32),
                       "input_features": (rng.standard_normal((1, 200, 128)) - 4).astype(np.float32),
                       "input_features_mask": np.ones((1, 200), dtype=np.bool_)})
elif cmd == "finite":  # finite A name B input_ids VOCAB: logits [B, T, VOCAB] for B's input_ids, all finite
    a = load(sys.argv[2])[sys.argv[3]]; ids = load(sys.argv[4])[sys.argv[5]]
    print(f"  {a.shape}, max |logit| {float(np.abs(a).max()):.3g}")
    sys.exit(0 if a.shape == ids.shape + (int(sys.argv[6]),) and np.isfinite(a).all() else 1)
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
g3n=$fx/gemma3n-tiny-ref-small
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

# ---- tiny-3n: the random-weight Gemma 3n preset sized to a tokenizer with the sample set's special pieces
$py - "$work/corpus.txt" <<'PY'
import random, sys
random.seed(1)
w = "what shape is shown in this image a red blue circle square how many beeps tone high low left right the".split()
open(sys.argv[1], "w").write("".join(" ".join(random.choice(w) for _ in range(random.randint(3, 12))) + ".\n" for _ in range(2000)))
PY
spm_train --input="$work/corpus.txt" --model_prefix="$work/tok" --vocab_size=400 --byte_fallback=true --model_type=bpe \
  --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>' --unk_piece='<unk>' \
  --user_defined_symbols='<start_of_turn>,<end_of_turn>,<start_of_image>,<end_of_image>,<image_soft_token>,<start_of_audio>,<end_of_audio>,<audio_soft_token>' \
  >"$work/spm.log" 2>&1
check "tiny-3n: omnitune-init-model writes the directory" \
  "$bin/omnitune-init-model" --preset tiny-3n --out "$work/tiny3n" --tokenizer "$work/tok.model" --dtype float32 >"$work/init.log" 2>&1
check "tiny-3n: config, weights, processor settings and tokenizer are there" \
  test -f "$work/tiny3n/config.json" -a -f "$work/tiny3n/model.safetensors" -a -f "$work/tiny3n/preprocessor_config.json" -a -f "$work/tiny3n/tokenizer.model"
st mm-prompt "$work/tiny3n-in.safetensors" "$work/tiny3n"
check "tiny-3n: image + audio prompt runs with 4 greedy tokens" \
  fwd --model "$work/tiny3n" --inputs "$work/tiny3n-in.safetensors" --out "$work/tiny3n-out.safetensors" --greedy-new-tokens 4
check "tiny-3n: logits are finite, [1, T, tokenizer size]" \
  st finite "$work/tiny3n-out.safetensors" logits "$work/tiny3n-in.safetensors" input_ids 400

finish
