#!/usr/bin/env python3
"""Peer CPU benchmark: Google's gemma_pytorch Gemma 3 VLM on the shapes omnitune will be timed on.

What it is for: a baseline that a C++/LibTorch Gemma 3 (loading Hugging Face layout checkpoints)
is compared against, side by side, on the same machine and in the same run.  The model code is
Google's own PyTorch reference, github.com/google/gemma_pytorch (Gemma3ForMultimodalLM + SigLIP),
imported from a checkout given on the command line; nothing of it is copied here.  This script
builds a mid-size Gemma 3 VLM with seeded random weights, times it, and can export the very same
weights as an HF Gemma3ForConditionalGeneration checkpoint (--export DIR) so that the C++ program
runs on identical numbers.  Model building, the torch 1.13 shims and the HF export follow the
project's reference-check script make_gemma3_reference.py (development material outside this
repository; its logic, parameterised by size, is repeated here so that this file stands alone).

Provenance: copied unchanged but for these comments from the project's shared peer benchmark
(peers/bench_gemma_pytorch.py, 2026-12-06), so bench/peer/run.sh needs nothing outside the
repository but a gemma_pytorch checkout.

Measurements (median of --reps timed repetitions after --warmup untimed ones; min/median/max):
  prefill  Gemma3ForMultimodalLM.forward on a text-only batch [B, L] (default [4, 512]) under its
           own @torch.no_grad, logits for ALL positions (output_positions = 0..L-1, as an HF
           forward returns them), fresh KV caches and masks built inside the timed region.
  train    the same forward with its @torch.no_grad decorators unwrapped (__wrapped__), plus
           cross-entropy on the logits upcast to fp32 (next-token targets, mean over B*(L-1)),
           plus backward into every text parameter (tied embedding included); no optimizer,
           gradients reset to None before each step (default [2, 512]).
  generate Gemma3ForMultimodalLM.generate itself (its KV caches, masks and loop), greedy
           (temperature=None), batch 1, a P-token prompt (default 64, BOS + random ids) and
           N new tokens (default 128) = 1 prefill call + N-1 one-token decode calls; median of
           --gen-reps (default 2) generations after a short 8-token warm-up generation.  Forward
           hooks time the prefill call and the decode calls separately.
  peak     torch.matmul [M, K] @ [K, N] (default 4096x1024 @ 1024x4096) in fp32 and bf16, and a
           memory read bandwidth probe (sum of a 512 MiB fp32 tensor), in the same process,
           once before and once after the model measurements; the peak is the higher of the
           two medians (the machine is a shared VM and drifts; a large gap is flagged DRIFT).
  Each of prefill/train/generate runs in fp32 and bf16 (a bf16 copy built the way gemma_pytorch's
  scripts do: model constructed under torch.set_default_dtype(bfloat16), weights = fp32 weights
  rounded to bf16; activations bf16, softmax/RMSNorm/RoPE in fp32 inside their code).

FLOP counts (analytic; every "fraction of peak" = achieved FLOP/s / same-dtype matmul GFLOP/s):
  H hidden, I intermediate, nH / nKV heads, hd head_dim, V vocab, NL layers
  P_mm = NL * (H*(nH + 2*nKV)*hd  +  nH*hd*H  +  3*H*I)  +  V*H
         (q,k,v | o | gate,up,down per layer; V*H = the LM head, tied to the embedding; the
         embedding lookup is a gather and counts 0)
  forward, per token, context length Lk:   F_fwd = 2*P_mm + 4*NL*nH*hd*Lk
         (4*nH*hd*Lk = 2 FLOPs x (q.k^T + p.V) over Lk keys; dense attention as gemma_pytorch
         computes it: Lk = L for prefill/train, no causal or sliding-window discount, the PaLM
         MFU convention; a causal/window-aware count is also written to the JSON)
  prefill tokens/s * F_fwd(Lk=L)                                     -> achieved FLOP/s
  train   tokens/s * 3 * F_fwd(Lk=L)  (backward = 2x forward)        -> achieved FLOP/s
  decode  tokens/s * F_fwd(Lk=P+N, gemma_pytorch attends to its whole preallocated cache) and,
          since one-token decode is bound by memory, also weight bytes streamed per token
          (P_mm * bytes/param) * tokens/s as GB/s, against the bandwidth probe.

Threads: --threads T (default 2) sets torch.set_num_threads(T) AND, before torch is imported,
OMP_NUM_THREADS=T and OPENBLAS_NUM_THREADS=T: Debian's torch runs fp32 matmuls in the system
OpenBLAS, whose own thread pool ignores torch.set_num_threads (bf16 matmuls go to oneDNN, which
follows it).

--export DIR is written after the measurements (writing ~0.5 GB during them halved the fp32
prefill rate): model.safetensors (fp32, HF hub names), config.json, preprocessor_config.json,
bench_inputs.safetensors (the exact input ids of every measurement, the fp32/bf16 last-position
prefill logits, the training losses and the greedy ids, for a correctness check before timing)
and bench_meta.json.  (The development area's check_export.py verifies such a directory against
an independent float64 transcription of the HF model.)

Usage (Debian's python3-torch 1.13, i.e. /usr/bin/python3):
  python3 bench_gemma_pytorch.py --gemma-pytorch <checkout> [--json OUT] [--export DIR]
  python3 bench_gemma_pytorch.py --gemma-pytorch <checkout> --export DIR --only none   # export only
"""

import argparse
import hashlib
import json
import os
import platform
import statistics
import struct
import sys
import time

import numpy as np

# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
MEASUREMENTS = ("peak", "prefill", "train", "generate")
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
N_EXTRA_IDS = 64          # like 262144 "base" ids + 64 = 262208 in the real vocab


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gemma-pytorch", default=os.environ.get("GEMMA_PYTORCH_DIR"),
                   help="gemma_pytorch checkout (default: $GEMMA_PYTORCH_DIR)")
    p.add_argument("--gemma-pytorch-rev", default=None,
                   help="commit of the checkout, recorded in the JSON when it is not a git tree")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=20250312)
    p.add_argument("--json", default=None, help="write all figures here")
    p.add_argument("--export", default=None,
                   help="write model.safetensors, config.json, preprocessor_config.json, "
                        "bench_inputs.safetensors, bench_meta.json to this directory")
    p.add_argument("--only", default=",".join(MEASUREMENTS),
                   help=f"comma list of {','.join(MEASUREMENTS)} (or 'none')")
    p.add_argument("--dtypes", default="fp32,bf16", help="comma list of fp32,bf16")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (median reported)")
    p.add_argument("--gen-reps", type=int, default=2,
                   help="timed generations (each is --gen decode steps; 2 keeps the default "
                        "run under 3 minutes: fp32 decode alone is ~20 s per generation)")
    p.add_argument("--peak-reps", type=int, default=7)
    # text model
    g = p.add_argument_group("text model")
    g.add_argument("--vocab", type=int, default=8192)
    g.add_argument("--hidden", type=int, default=1024)
    g.add_argument("--intermediate", type=int, default=4096)
    g.add_argument("--layers", type=int, default=8)
    g.add_argument("--heads", type=int, default=8)
    g.add_argument("--kv-heads", type=int, default=4)
    g.add_argument("--head-dim", type=int, default=128)
    g.add_argument("--query-pre-attn-scalar", type=int, default=128)
    g.add_argument("--sliding-window", type=int, default=256)
    g.add_argument("--sliding-pattern", type=int, default=6,
                   help="layer i is global iff (i+1) %% pattern == 0")
    g.add_argument("--rope-local-base", type=float, default=10_000.0)
    g.add_argument("--rope-global-base", type=float, default=1_000_000.0)
    g.add_argument("--rope-linear-factor", type=int, default=8)
    g.add_argument("--max-pos", type=int, default=2048, help="max_position_embeddings")
    # vision model
    g = p.add_argument_group("vision model (SigLIP; gemma_pytorch fixes patch 14, pool 4x4)")
    g.add_argument("--image-size", type=int, default=224)
    g.add_argument("--v-hidden", type=int, default=256)
    g.add_argument("--v-intermediate", type=int, default=1024)
    g.add_argument("--v-layers", type=int, default=2)
    g.add_argument("--v-heads", type=int, default=4)
    g.add_argument("--mm-tokens", type=int, default=16)
    # shapes
    g = p.add_argument_group("benchmark shapes")
    g.add_argument("--batch", type=int, default=4, help="prefill batch")
    g.add_argument("--seq", type=int, default=512, help="prefill sequence length")
    g.add_argument("--train-batch", type=int, default=2)
    g.add_argument("--train-seq", type=int, default=512)
    g.add_argument("--prompt", type=int, default=64, help="generation prompt length (with BOS)")
    g.add_argument("--gen", type=int, default=128, help="new tokens to generate")
    g.add_argument("--peak-m", type=int, default=4096)
    g.add_argument("--peak-k", type=int, default=1024)
    g.add_argument("--peak-n", type=int, default=4096)
    g.add_argument("--bw-mib", type=int, default=512, help="memory bandwidth probe size")
    a = p.parse_args(argv)
    a.only = [] if a.only == "none" else [m.strip() for m in a.only.split(",") if m.strip()]
    a.dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    for m in a.only:
        if m not in MEASUREMENTS:
            p.error(f"--only: unknown measurement {m!r}")
    for d in a.dtypes:
        if d not in ("fp32", "bf16"):
            p.error(f"--dtypes: unknown dtype {d!r}")
    if not a.gemma_pytorch or not os.path.isdir(os.path.join(a.gemma_pytorch, "gemma")):
        p.error("--gemma-pytorch DIR (a google/gemma_pytorch checkout) is required")
    if a.reps < 1 or a.gen_reps < 1 or a.peak_reps < 1 or a.warmup < 0:
        p.error("--reps, --gen-reps, --peak-reps must be >= 1 and --warmup >= 0")
    if a.prompt < 2 or a.gen < 2:
        p.error("--prompt and --gen must be >= 2 (BOS + ids; prefill + at least one decode step)")
    if a.heads % a.kv_heads:
        p.error("--heads must be a multiple of --kv-heads")
    if a.image_size // 14 != 4 * round(a.mm_tokens ** 0.5) or a.image_size % 14:
        p.error("gemma_pytorch pools 4x4 over 14-pixel patches: need image_size = 14*4*sqrt(mm_tokens)")
    if a.vocab <= N_EXTRA_IDS + 8:
        p.error(f"--vocab must exceed {N_EXTRA_IDS + 8}")
    if max(a.seq, a.train_seq, a.prompt + a.gen) > a.max_pos:
        p.error("--max-pos must be >= every sequence length used")
    return a


def special_ids(vocab):
    """Same scheme as the real vocab (262144 base + 64): boi = base-2, eoi = base-1, image = base."""
    base = vocab - N_EXTRA_IDS
    return {"pad": PAD_ID, "eos": EOS_ID, "bos": BOS_ID, "boi": base - 2, "eoi": base - 1,
            "image_soft_token": base}


def layer_types(a):
    return ["full_attention" if (i + 1) % a.sliding_pattern == 0 else "sliding_attention"
            for i in range(a.layers)]


# --------------------------------------------------------------------------------------------
# importing gemma_pytorch under torch 1.13 (same two shims as the reference-check script)
# --------------------------------------------------------------------------------------------
def import_gemma_pytorch(gp_dir, vocab):
    import torch
    sys.path.insert(0, gp_dir)
    original = torch.inference_mode

    def inference_mode_compat(mode=True):
        # SiglipVisionModel.forward uses a bare @torch.inference_mode: torch >= 2.0 only.
        if callable(mode) and not isinstance(mode, bool):
            return original()(mode)
        return original(mode)

    torch.inference_mode = inference_mode_compat
    try:
        from gemma import config as gcfg
        from gemma import model as gmodel
        from gemma import gemma3_model
        from gemma import tokenizer as gtok
        from gemma.siglip_vision import config as scfg
    finally:
        torch.inference_mode = original

    ids = special_ids(vocab)

    class StubTokenizer:
        """Replaces gemma.tokenizer.Tokenizer (its SentencePiece file is in git-LFS).  encode()
        takes a string of space-separated ids, so generate() runs unchanged on given ids;
        decode() returns the ids."""

        def __init__(self, model_path=None):
            self.n_words = vocab
            self.bos_id, self.eos_id, self.pad_id = ids["bos"], ids["eos"], ids["pad"]
            self.boi_id, self.eoi_id = ids["boi"], ids["eoi"]
            self.image_token_placeholder_id = ids["image_soft_token"]

        def encode(self, s, bos=True, eos=False):
            t = [int(x) for x in s.split()]
            return ([self.bos_id] if bos else []) + t + ([self.eos_id] if eos else [])

        def decode(self, t):
            return list(t)

    gtok.Tokenizer = StubTokenizer
    return gcfg, gmodel, gemma3_model, scfg


def gemma_pytorch_config(a, gcfg, scfg, dtype):
    vision = scfg.SiglipVisionModelConfig(
        num_hidden_layers=a.v_layers, embedding_dim=a.v_hidden, embedding_use_bias=True,
        input_channels=3, image_size=a.image_size, num_attention_heads=a.v_heads,
        head_dim=a.v_hidden // a.v_heads, num_key_value_heads=a.v_heads,
        num_query_groups=a.v_heads, qkv_use_bias=True, output_proj_use_bias=True,
        intermediate_size=a.v_intermediate, layer_norm_eps=1e-6, dtype=dtype, quant=False,
        encoding_sequence_length=a.mm_tokens)
    assert vision.conv2d_patch_size == 14
    L, G = gcfg.AttentionType.LOCAL_SLIDING, gcfg.AttentionType.GLOBAL
    pattern = tuple(G if (i + 1) % a.sliding_pattern == 0 else L
                    for i in range(a.sliding_pattern))
    return gcfg.GemmaConfig(
        architecture=gcfg.Architecture.GEMMA_3, vocab_size=a.vocab,
        max_position_embeddings=a.max_pos, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, hidden_size=a.hidden,
        intermediate_size=a.intermediate, head_dim=a.head_dim, rms_norm_eps=1e-6, dtype=dtype,
        quant=False, tokenizer="<stub>", attn_types=pattern,
        sliding_window_size=a.sliding_window, final_logit_softcapping=None,
        attn_logit_softcapping=None, query_pre_attn_scalar=a.query_pre_attn_scalar,
        use_pre_ffw_norm=True, use_post_ffw_norm=True,
        rope_wave_length={L: int(a.rope_local_base), G: int(a.rope_global_base)},
        use_qk_norm=True, vision_config=vision, rope_scaling_factor=a.rope_linear_factor)


def init_weights(model, gmodel, seed, embed_std):
    """Seeded random weights drawn in sorted-parameter-name order (refcheck variant a's init,
    except the embedding std: H**-0.5 keeps the scaled input embedding and the tied-head logits
    at unit scale, so the loss starts near ln(V) and greedy decoding does not repeat one id)."""
    import torch
    from torch import nn
    g = torch.Generator().manual_seed(seed)
    entries = []
    for mname, mod in model.named_modules():
        for pname, prm in mod.named_parameters(recurse=False):
            entries.append((f"{mname}.{pname}" if mname else pname, mod, pname, prm))
    entries.sort(key=lambda e: e[0])
    with torch.no_grad():
        for full, mod, pname, prm in entries:
            r = torch.randn(prm.shape, generator=g, dtype=torch.float32)
            if isinstance(mod, gmodel.RMSNorm):
                r.mul_(0.2)                               # stored w; scale is 1 + w
            elif isinstance(mod, nn.LayerNorm):
                r = 1.0 + 0.1 * r if pname == "weight" else 0.1 * r
            elif isinstance(mod, gmodel.Embedding):
                r.mul_(embed_std)
            elif isinstance(mod, nn.Embedding):           # SigLIP position embedding
                r.mul_(0.5)
            elif isinstance(mod, (gmodel.Linear, nn.Linear)):
                r = r / np.sqrt(prm.shape[1]) if pname == "weight" else 0.1 * r
            elif isinstance(mod, nn.Conv2d):
                r = r / np.sqrt(int(np.prod(prm.shape[1:]))) if pname == "weight" else 0.1 * r
            else:
                raise RuntimeError(f"unhandled parameter {full} in {type(mod).__name__}")
            prm.copy_(r)


def build_models(a, dtypes):
    """fp32 model with seeded weights, plus a bf16 copy built like gemma_pytorch's scripts do."""
    import torch
    gcfg, gmodel, gemma3_model, scfg = import_gemma_pytorch(a.gemma_pytorch, a.vocab)
    models = {}
    fp32 = gemma3_model.Gemma3ForMultimodalLM(gemma_pytorch_config(a, gcfg, scfg, "float32"))
    init_weights(fp32, gmodel, a.seed, a.hidden ** -0.5)
    fp32.eval()
    models["fp32"] = fp32
    if "bf16" in dtypes:
        torch.set_default_dtype(torch.bfloat16)
        try:
            bf16 = gemma3_model.Gemma3ForMultimodalLM(
                gemma_pytorch_config(a, gcfg, scfg, "bfloat16"))
        finally:
            torch.set_default_dtype(torch.float32)
        bf16.load_state_dict(fp32.state_dict())   # copy_ into bf16 params: round to nearest even
        bf16.eval()
        models["bf16"] = bf16
    return models, gmodel, gemma3_model


# --------------------------------------------------------------------------------------------
# HF export (same mapping as the reference-check script make_gemma3_reference.py, key style "hub")
# --------------------------------------------------------------------------------------------
_ST_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset, order = 0, sorted(tensors)
    for name in order:
        arr = tensors[name]
        header[name] = {"dtype": _ST_DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name in order:
            f.write(np.ascontiguousarray(tensors[name]).data)


def to_hf_state_dict(a, sd):
    lm, vt, mm = "language_model.model.", "vision_tower.vision_model.", "multi_modal_projector."
    out, used = {}, set()

    def put(hf_name, gp_name, value=None):
        arr = sd[gp_name] if value is None else value
        out[hf_name] = np.ascontiguousarray(arr, dtype=np.float32)
        used.add(gp_name)

    put(lm + "embed_tokens.weight", "text_token_embedder.weight")
    put(lm + "norm.weight", "model.norm.weight")
    q, kv = a.heads * a.head_dim, a.kv_heads * a.head_dim
    for i in range(a.layers):
        gp, hf = f"model.layers.{i}.", f"{lm}layers.{i}."
        qkv = sd[gp + "self_attn.qkv_proj.weight"]
        assert qkv.shape == (q + 2 * kv, a.hidden)
        put(hf + "self_attn.q_proj.weight", gp + "self_attn.qkv_proj.weight", qkv[:q])
        put(hf + "self_attn.k_proj.weight", gp + "self_attn.qkv_proj.weight", qkv[q:q + kv])
        put(hf + "self_attn.v_proj.weight", gp + "self_attn.qkv_proj.weight", qkv[q + kv:])
        put(hf + "self_attn.o_proj.weight", gp + "self_attn.o_proj.weight")
        put(hf + "self_attn.q_norm.weight", gp + "self_attn.query_norm.weight")
        put(hf + "self_attn.k_norm.weight", gp + "self_attn.key_norm.weight")
        for m in ("gate_proj", "up_proj", "down_proj"):
            put(hf + f"mlp.{m}.weight", gp + f"mlp.{m}.weight")
        for n in ("input_layernorm", "post_attention_layernorm",
                  "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            put(hf + f"{n}.weight", gp + f"{n}.weight")
    sv = "siglip_vision_model."
    for t in ("weight", "bias"):
        put(vt + f"embeddings.patch_embedding.{t}", sv + f"patch_embedding.{t}")
        put(vt + f"post_layernorm.{t}", sv + f"final_norm.{t}")
    put(vt + "embeddings.position_embedding.weight", sv + "position_embedding.weight")
    for i in range(a.v_layers):
        gp, hf = f"{sv}encoder_blocks.{i}.", f"{vt}encoder.layers.{i}."
        for t in ("weight", "bias"):
            for src, dst in (("q_proj", "q_proj"), ("k_proj", "k_proj"), ("v_proj", "v_proj"),
                             ("o_proj", "out_proj")):
                put(hf + f"self_attn.{dst}.{t}", gp + f"self_attn.{src}.{t}")
            for n in ("layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"):
                put(hf + f"{n}.{t}", gp + f"{n}.{t}")
    put(mm + "mm_soft_emb_norm.weight", "mm_soft_embedding_norm.weight")
    put(mm + "mm_input_projection_weight", "mm_input_projection.weight",
        sd["mm_input_projection.weight"].T)           # HF does x @ W: stored transposed
    missing = sorted(set(sd) - used)
    if missing:
        raise RuntimeError(f"unmapped gemma_pytorch parameters: {missing}")
    return out


def hf_config(a):
    ids = special_ids(a.vocab)
    return {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "boi_token_index": ids["boi"],
        "eoi_token_index": ids["eoi"],
        "image_token_index": ids["image_soft_token"],
        "mm_tokens_per_image": a.mm_tokens,
        "initializer_range": 0.02,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "gemma3_text",
            "vocab_size": a.vocab,
            "hidden_size": a.hidden,
            "intermediate_size": a.intermediate,
            "num_hidden_layers": a.layers,
            "num_attention_heads": a.heads,
            "num_key_value_heads": a.kv_heads,
            "head_dim": a.head_dim,
            "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": a.max_pos,
            "rms_norm_eps": 1e-6,
            "rope_theta": a.rope_global_base,
            "rope_local_base_freq": a.rope_local_base,
            "rope_scaling": {"rope_type": "linear", "factor": float(a.rope_linear_factor)},
            "query_pre_attn_scalar": a.query_pre_attn_scalar,
            "sliding_window": a.sliding_window,
            "sliding_window_pattern": a.sliding_pattern,
            "layer_types": layer_types(a),
            "final_logit_softcapping": None,
            "attn_logit_softcapping": None,
            "attention_bias": False,
            "attention_dropout": 0.0,
            "pad_token_id": PAD_ID,
            "eos_token_id": EOS_ID,
            "bos_token_id": BOS_ID,
            "tie_word_embeddings": True,
            "use_cache": True,
            "cache_implementation": "hybrid",
            "torch_dtype": "float32",
        },
        "vision_config": {
            "model_type": "siglip_vision_model",
            "hidden_size": a.v_hidden,
            "intermediate_size": a.v_intermediate,
            "num_hidden_layers": a.v_layers,
            "num_attention_heads": a.v_heads,
            "num_channels": 3,
            "image_size": a.image_size,
            "patch_size": 14,
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
            "attention_dropout": 0.0,
            "vision_use_head": False,
            "torch_dtype": "float32",
        },
    }


def hf_preprocessor_config(a):
    return {
        "image_processor_type": "Gemma3ImageProcessor",
        "processor_class": "Gemma3Processor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"height": a.image_size, "width": a.image_size},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1.0 / 255.0,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "do_pan_and_scan": False,
        "image_seq_length": a.mm_tokens,
    }


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def export_model(a, model, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()
          if k not in ("local_freqs_cis", "global_freqs_cis")}
    hf = to_hf_state_dict(a, sd)
    path = os.path.join(out_dir, "model.safetensors")
    write_safetensors(path, hf, {"format": "pt", "source": "google/gemma_pytorch random init",
                                 "seed": a.seed})
    for name, obj in (("config.json", hf_config(a)),
                      ("preprocessor_config.json", hf_preprocessor_config(a))):
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    return {"tensors": len(hf), "params": int(sum(v.size for v in hf.values())),
            "model_safetensors_sha256": sha256_file(path)}


# --------------------------------------------------------------------------------------------
# FLOP model (see the file-top comment)
# --------------------------------------------------------------------------------------------
def flop_model(a):
    per_layer = (a.hidden * (a.heads + 2 * a.kv_heads) * a.head_dim
                 + a.heads * a.head_dim * a.hidden + 3 * a.hidden * a.intermediate)
    p_mm = a.layers * per_layer + a.vocab * a.hidden
    attn_per_key = 4 * a.layers * a.heads * a.head_dim       # FLOPs per token per visible key

    def fwd_per_token(lk):
        """Dense count: every query against lk keys (PaLM convention, what gemma_pytorch runs)."""
        return 2 * p_mm + attn_per_key * lk

    def fwd_per_token_masked(seq):
        """Only (query, key) pairs the causal / sliding-window mask keeps, averaged per token."""
        types = layer_types(a)
        keys = 0
        for t in types:
            w = a.sliding_window if t == "sliding_attention" else seq
            keys += sum(min(i + 1, w) for i in range(seq))
        return 2 * p_mm + 4 * a.heads * a.head_dim * keys / seq

    return p_mm, per_layer, fwd_per_token, fwd_per_token_masked


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------
def time_reps(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def summarize(ts, work=None):
    """min/median/max seconds; work = units per call (tokens, FLOPs) -> rates from the same."""
    med = statistics.median(ts)
    out = {"seconds": {"min": min(ts), "median": med, "max": max(ts), "all": ts}}
    if work is not None:
        out["per_second"] = {"at_min_time": work / min(ts), "at_median_time": work / med,
                             "at_max_time": work / max(ts)}
    return out


def torch_dtype(name):
    import torch
    return {"fp32": torch.float32, "bf16": torch.bfloat16}[name]


def measure_peak(a):
    """Raw samples (seconds) of the matmul and bandwidth probes; see combine_peaks."""
    import torch
    res = {}
    for name in a.dtypes:
        dt = torch_dtype(name)
        g = torch.Generator().manual_seed(1)
        x = torch.randn(a.peak_m, a.peak_k, generator=g).to(dt)
        y = torch.randn(a.peak_k, a.peak_n, generator=g).to(dt)
        res[f"matmul_{name}"] = time_reps(lambda: torch.matmul(x, y), 2, a.peak_reps)
    big = torch.ones((a.bw_mib << 20) // 4, dtype=torch.float32)
    res["read_bandwidth"] = time_reps(lambda: big.sum(), 2, a.peak_reps)
    return res


def combine_peaks(a, runs):
    """runs: {"start": samples, "end": samples}.  This machine drifts (a shared VM: one run saw
    101 GFLOP/s fp32 at the start and 190 at the end), so the probes run before and after the
    model measurements.  The peak is the higher of the two phase medians (the rate the machine
    can reach in this run); a phase gap over 15% (matmul) or 50% (bandwidth, which varies more
    from second to second here) is flagged."""
    flops = 2 * a.peak_m * a.peak_k * a.peak_n
    nbytes = a.bw_mib << 20
    out = {}
    for key in runs["start"]:
        work = nbytes if key == "read_bandwidth" else flops
        allts = [t for r in runs.values() for t in r[key]]
        s = summarize(allts, work)
        by_phase = {ph: work / statistics.median(r[key]) / 1e9 for ph, r in runs.items()}
        s["median_by_phase"] = by_phase
        limit = 1.5 if key == "read_bandwidth" else 1.15
        s["disturbed"] = max(by_phase.values()) > limit * min(by_phase.values())
        if key == "read_bandwidth":
            s["gbytes_per_s"] = max(by_phase.values())
            s["probe"] = f"torch.sum over {a.bw_mib} MiB of fp32"
        else:
            s["gflops"] = max(by_phase.values())
            s["shape"] = [a.peak_m, a.peak_k, a.peak_n]
        out[key] = s
    return out


def random_ids(shape, vocab, gen):
    """Text ids in [3, boi): never pad/eos/bos/boi/eoi/image placeholder."""
    import torch
    hi = special_ids(vocab)["boi"]
    return torch.randint(3, hi, shape, generator=gen, dtype=torch.long)


def make_inputs(a):
    """The token ids of every measurement (exported too, so the C++ side times the same ids)."""
    import torch
    gen = lambda k: torch.Generator().manual_seed(a.seed + k)
    prompt = random_ids((1, a.prompt - 1), a.vocab, gen(3))
    return {"prefill_input_ids": random_ids((a.batch, a.seq), a.vocab, gen(1)),
            "train_input_ids": random_ids((a.train_batch, a.train_seq), a.vocab, gen(2)),
            "generate_prompt_ids": torch.cat([torch.full((1, 1), BOS_ID), prompt], dim=1)}


def text_forward_args(model, ids, dtype):
    """Arguments of Gemma3ForMultimodalLM.forward for a text-only batch: all positions' logits,
    the model's own create_attention_mask, fresh KV caches of length L (as generate() makes)."""
    import torch
    B, L = ids.shape
    cfg = model.config
    allowed, local_allowed = model.create_attention_mask(ids, L)
    neg = torch.tensor(torch.finfo(dtype).min, dtype=torch.float32)
    zero = torch.tensor(0.0)
    caches = [(torch.zeros(B, L, cfg.num_key_value_heads, cfg.head_dim, dtype=dtype),
               torch.zeros(B, L, cfg.num_key_value_heads, cfg.head_dim, dtype=dtype))
              for _ in range(cfg.num_hidden_layers)]
    pos = torch.arange(L, dtype=torch.long)
    return dict(input_token_ids=ids, image_patches=None, image_presence_mask=None,
                input_positions=pos, kv_caches=caches,
                mask=torch.where(allowed, zero, neg).contiguous(),
                output_positions=pos, temperatures=None,
                top_ps=torch.ones(B), top_ks=torch.full((B,), 1, dtype=torch.long),
                local_mask=torch.where(local_allowed, zero, neg).contiguous())


def measure_prefill(a, model, dtype_name, flops_tok, ids):
    import torch
    dt = torch_dtype(dtype_name)
    out = {}

    def step():
        _, logits = model(**text_forward_args(model, ids, dt))
        out["logits"] = logits

    ts = time_reps(step, a.warmup, a.reps)
    tokens = a.batch * a.seq
    r = summarize(ts, tokens)
    r["tokens_per_s"] = tokens / statistics.median(ts)
    r["flops_per_token"] = flops_tok
    r["gflops_per_s"] = r["tokens_per_s"] * flops_tok / 1e9
    r["shape"] = [a.batch, a.seq]
    lg = out["logits"]
    r["logits"] = {"shape": list(lg.shape), "dtype": str(lg.dtype).replace("torch.", ""),
                   "finite": bool(torch.isfinite(lg.float()).all()),
                   "mean_abs": float(lg.float().abs().mean())}
    return r, lg[:, -1].float()


class _GradForward:
    """Gemma3ForMultimodalLM.forward and Sampler.forward are @torch.no_grad; for a training step
    call the undecorated functions (functools.wraps keeps them as __wrapped__)."""

    def __init__(self, model, gmodel, gemma3_model):
        self.model = model
        self.fwd = gemma3_model.Gemma3ForMultimodalLM.forward.__wrapped__
        self.sampler_fwd = gmodel.Sampler.forward.__wrapped__

    def __enter__(self):
        s = self.model.sampler
        s.forward = lambda *args, **kw: self.sampler_fwd(s, *args, **kw)
        self.params = [p for n, p in self.model.named_parameters()
                       if not n.startswith(("siglip_vision_model.", "mm_"))]
        for p in self.params:
            p.requires_grad_(True)
        return self

    def __call__(self, **kw):
        return self.fwd(self.model, **kw)

    def __exit__(self, *exc):
        del self.model.sampler.forward
        for p in self.params:
            p.requires_grad_(False)
            p.grad = None


def measure_train(a, model, gmodel, gemma3_model, dtype_name, flops_tok, ids):
    import torch
    import torch.nn.functional as F
    dt = torch_dtype(dtype_name)
    out = {}
    with _GradForward(model, gmodel, gemma3_model) as fwd:
        def step():
            for p in fwd.params:
                p.grad = None
            with torch.enable_grad():
                _, logits = fwd(**text_forward_args(model, ids, dt))
                loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, a.vocab),
                                       ids[:, 1:].reshape(-1))
                loss.backward()
            out["loss"] = float(loss)

        ts = time_reps(step, a.warmup, a.reps)
        missing = [i for i, p in enumerate(fwd.params) if p.grad is None]
        gnorm = float(torch.sqrt(sum((p.grad.float() ** 2).sum() for p in fwd.params
                                     if p.grad is not None)))
        n_params = sum(p.numel() for p in fwd.params)
    tokens = a.train_batch * a.train_seq
    r = summarize(ts, tokens)
    r["tokens_per_s"] = tokens / statistics.median(ts)
    r["flops_per_token"] = 3 * flops_tok
    r["gflops_per_s"] = r["tokens_per_s"] * 3 * flops_tok / 1e9
    r["shape"] = [a.train_batch, a.train_seq]
    r["loss"] = out["loss"]
    r["grad_norm"] = gnorm
    r["params_with_grad"] = n_params
    r["params_without_grad"] = len(missing)
    return r


def measure_generate(a, model, dtype_name, flops_tok, bytes_tok, prompt_ids):
    assert prompt_ids[0] == BOS_ID
    prompt = [[" ".join(str(t) for t in prompt_ids[1:])]]     # generate() adds the BOS
    stamps = []
    h1 = model.register_forward_pre_hook(lambda m, i: stamps.append(time.perf_counter()))
    h2 = model.register_forward_hook(lambda m, i, o: stamps.append(time.perf_counter()))
    out, calls = {}, []

    def step(n_new=a.gen):
        stamps.clear()
        res = model.generate(prompt, device="cpu", output_len=n_new, temperature=None)
        out["ids"] = res[0]
        calls.append(list(stamps))

    try:
        for _ in range(a.warmup):      # a short generation warms every kernel just as well
            step(min(a.gen, 8))
        calls.clear()
        ts = time_reps(step, 0, a.gen_reps)
    finally:
        h1.remove()
        h2.remove()
    prefill_ts = [c[1] - c[0] for c in calls]
    decode_ts = [c[-1] - c[1] for c in calls]            # end of prefill -> end of last decode
    n_calls = len(calls[0]) // 2
    full = out["ids"]
    new_ids = full[a.prompt:a.prompt + a.gen]     # decode() stops at EOS: may be shorter
    r = summarize(ts, a.gen)
    r["tokens_per_s"] = a.gen / statistics.median(ts)
    r["model_calls"] = n_calls
    r["prefill"] = summarize(prefill_ts, a.prompt)
    n_dec = a.gen - 1
    r["decode"] = summarize(decode_ts, n_dec)
    r["decode"]["tokens"] = n_dec
    r["decode"]["tokens_per_s"] = n_dec / statistics.median(decode_ts)
    r["decode"]["ms_per_token"] = 1e3 * statistics.median(decode_ts) / n_dec
    # every decode step of every timed generation: end of call i-1 -> end of call i
    steps = sorted(1e3 * (c[2 * i + 1] - c[2 * i - 1]) for c in calls for i in range(1, n_calls))
    r["decode"]["step_ms"] = {"min": steps[0], "median": statistics.median(steps),
                              "p90": steps[int(0.9 * (len(steps) - 1))], "max": steps[-1],
                              "samples": len(steps)}
    r["decode"]["flops_per_token"] = flops_tok
    r["decode"]["gflops_per_s"] = r["decode"]["tokens_per_s"] * flops_tok / 1e9
    r["decode"]["weight_bytes_per_token"] = bytes_tok
    r["decode"]["weight_gbytes_per_s"] = r["decode"]["tokens_per_s"] * bytes_tok / 1e9
    r["prompt_ids"] = list(prompt_ids)
    r["greedy_ids"] = new_ids
    r["greedy_ids_note"] = ("generated ids after the prompt, cut before the first EOS by "
                            "generate() (it still runs all steps)")
    r["shape"] = {"batch": 1, "prompt": a.prompt, "new_tokens": a.gen}
    return r


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def machine_info():
    info = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        info["cpus_online"] = os.cpu_count()
    except OSError:
        pass
    try:   # which BLAS / oneDNN shared objects this process really mapped (basenames only)
        libs = set()
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if any(s in path for s in ("blas", "dnnl", "mkldnn", "gomp", "omp")):
                    libs.add("/".join(path.split("/")[-2:]))
        info["mapped_libs"] = sorted(libs)
    except OSError:
        pass
    return info


def cpu_times():
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return dict(zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq",
                         "steal"), v))
    except OSError:
        return None


def cpu_split(t0, t1):
    if not t0 or not t1:
        return None
    d = {k: t1[k] - t0[k] for k in t0}
    tot = sum(d.values()) or 1
    return {k: round(v / tot, 4) for k, v in d.items()}


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def print_table(res):
    peak = res.get("peak", {})
    rows = []
    for name in ("fp32", "bf16"):
        m = peak.get(f"matmul_{name}")
        if m:
            s = m["seconds"]
            ph = "/".join(f"{v:.0f}" for v in m["median_by_phase"].values())
            rows.append((f"matmul peak {name} {'x'.join(map(str, m['shape']))}"
                         f" (start/end {ph}){' DRIFT' if m['disturbed'] else ''}",
                         f"{m['gflops']:.1f} GFLOP/s", s, "1.00"))
    bw = peak.get("read_bandwidth")
    if bw:
        ph = "/".join(f"{v:.0f}" for v in bw["median_by_phase"].values())
        rows.append((f"memory read bandwidth (start/end {ph}){' DRIFT' if bw['disturbed'] else ''}",
                     f"{bw['gbytes_per_s']:.1f} GB/s", bw["seconds"], ""))
    for kind in ("prefill", "train", "generate"):
        for name, r in res.get(kind, {}).items():
            if "error" in r:
                rows.append((f"{kind} {name}", "FAILED: " + r["error"][:60], None, ""))
                continue
            frac = r.get("fraction_of_matmul_peak")
            fs = f"{frac:.2f}" if frac is not None else ""
            if kind == "generate":
                shp = r["shape"]
                rows.append((f"generate {name} b1 p{shp['prompt']}+{shp['new_tokens']} (total)",
                             f"{fmt_rate(r['tokens_per_s'])} tok/s", r["seconds"], ""))
                d = r["decode"]
                bwf = d.get("fraction_of_read_bandwidth")
                rows.append((f"  decode steps ({d['ms_per_token']:.1f} ms/tok, "
                             f"{d['weight_gbytes_per_s']:.1f} GB/s w"
                             + (f" = {bwf:.2f} bw)" if bwf is not None else ")"),
                             f"{fmt_rate(d['tokens_per_s'])} tok/s", d["seconds"], fs))
            else:
                rows.append((f"{kind} {name} {'x'.join(map(str, r['shape']))}"
                             f" ({r['gflops_per_s']:.1f} GFLOP/s)",
                             f"{fmt_rate(r['tokens_per_s'])} tok/s", r["seconds"], fs))
    if not rows:
        return
    w = max(len(r[0]) for r in rows)
    print(f"\n{'measurement':<{w}}  {'median rate':>18}  {'time min/median/max (s)':>26}  "
          f"{'of peak':>7}")
    for label, rate, s, frac in rows:
        ts = (f"{s['min']:.3f}/{s['median']:.3f}/{s['max']:.3f}" if s else "")
        print(f"{label:<{w}}  {rate:>18}  {ts:>26}  {frac:>7}")


def add_fractions(res):
    """Every rate as a fraction of the same-dtype matmul peak (decode also of the bandwidth)."""
    for kind in ("prefill", "train", "generate"):
        for name, r in res.get(kind, {}).items():
            mm = res["peak"].get(f"matmul_{name}")
            if not mm or "error" in r:
                continue
            if kind == "generate":
                d = r["decode"]
                d["fraction_of_matmul_peak"] = d["gflops_per_s"] / mm["gflops"]
                r["fraction_of_matmul_peak"] = d["fraction_of_matmul_peak"]
                bw = res["peak"]["read_bandwidth"]["gbytes_per_s"]
                d["fraction_of_read_bandwidth"] = d["weight_gbytes_per_s"] / bw
            else:
                r["fraction_of_matmul_peak"] = r["gflops_per_s"] / mm["gflops"]


def main(argv=None):
    a = parse_args(argv)
    t_start, cpu0 = time.time(), cpu_times()
    # BEFORE torch loads: OpenBLAS (fp32 matmul) sizes its pool from the environment only
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var) not in (None, str(a.threads)):
            print(f"note: overriding {var}={os.environ[var]} with {a.threads}", file=sys.stderr)
        os.environ[var] = str(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    p_mm, per_layer, fwd_tok, fwd_tok_masked = flop_model(a)
    res = {
        "benchmark": "bench_gemma_pytorch.py",
        "implementation": "github.com/google/gemma_pytorch Gemma3ForMultimodalLM (torch, CPU)",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "threads": {"torch.get_num_threads": torch.get_num_threads(),
                    "OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"],
                    "OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"]},
        "machine": machine_info(),
        "args": {k: (v if k not in ("json", "export") else v is not None)
                 for k, v in vars(a).items() if k != "gemma_pytorch"},
        "flop_model": {
            "formula": "F_fwd(token, Lk) = 2*P_mm + 4*NL*nH*hd*Lk; train = 3*F_fwd; "
                       "P_mm = NL*(H*(nH+2*nKV)*hd + nH*hd*H + 3*H*I) + V*H",
            "P_mm": p_mm, "P_mm_per_layer": per_layer,
            "prefill_flops_per_token": fwd_tok(a.seq),
            "prefill_flops_per_token_masked_only": fwd_tok_masked(a.seq),
            "train_flops_per_token": 3 * fwd_tok(a.train_seq),
            "train_flops_per_token_masked_only": 3 * fwd_tok_masked(a.train_seq),
            "decode_flops_per_token": fwd_tok(a.prompt + a.gen),
        },
    }
    rev = a.gemma_pytorch_rev
    if rev is None:
        head = os.path.join(a.gemma_pytorch, ".git", "HEAD")
        rev = "unknown (not a git checkout; pass --gemma-pytorch-rev)"
        if os.path.isfile(head):
            import subprocess
            try:
                rev = subprocess.run(["git", "-C", a.gemma_pytorch, "rev-parse", "HEAD"],
                                     capture_output=True, text=True, check=True).stdout.strip()
            except Exception:
                pass
    res["gemma_pytorch_commit"] = rev
    res["gemma_pytorch_file_sha256"] = {
        p: sha256_file(os.path.join(a.gemma_pytorch, p))
        for p in ("gemma/model.py", "gemma/gemma3_model.py", "gemma/config.py",
                  "gemma/siglip_vision/siglip_vision_model.py")}

    peak_runs = {}
    if "peak" in a.only:            # first, before building and exporting disturb the machine
        t0 = time.time()
        peak_runs["start"] = measure_peak(a)
        res["peak"] = combine_peaks(a, peak_runs)
        print(f"peak (start): {time.time() - t0:.1f}s", flush=True)

    t0 = time.time()
    timed = [m for m in a.only if m != "peak"]
    models, gmodel, gemma3_model = build_models(a, a.dtypes if timed else ["fp32"])
    n_params = sum(p.numel() for p in models["fp32"].parameters())
    res["model"] = {"params_total": n_params,
                    "params_text": sum(p.numel() for n, p in models["fp32"].named_parameters()
                                       if not n.startswith(("siglip_vision_model.", "mm_"))),
                    "layer_types": layer_types(a), "special_ids": special_ids(a.vocab),
                    "build_seconds": time.time() - t0}
    print(f"built Gemma 3 VLM: {n_params / 1e6:.1f} M params ({p_mm / 1e6:.1f} M in text matmuls),"
          f" dtypes {','.join(models)}, threads {a.threads}, {time.time() - t0:.1f}s",
          flush=True)

    inputs = make_inputs(a)
    for kind in ("prefill", "train", "generate"):
        if kind not in a.only:
            continue
        res[kind] = {}
        for name in a.dtypes:
            t0 = time.time()
            model = models[name]
            try:
                if kind == "prefill":
                    r, last = measure_prefill(a, model, name, fwd_tok(a.seq),
                                              inputs["prefill_input_ids"])
                    inputs[f"prefill_last_logits_{name}"] = last
                elif kind == "train":
                    r = measure_train(a, model, gmodel, gemma3_model, name,
                                      fwd_tok(a.train_seq), inputs["train_input_ids"])
                    inputs[f"train_loss_{name}"] = torch.tensor([r["loss"]])
                else:
                    bytes_tok = p_mm * (4 if name == "fp32" else 2)
                    r = measure_generate(a, model, name, fwd_tok(a.prompt + a.gen), bytes_tok,
                                         inputs["generate_prompt_ids"][0].tolist())
                    if r["greedy_ids"]:
                        inputs[f"generate_greedy_ids_{name}"] = torch.tensor([r["greedy_ids"]])
            except Exception as e:      # report, keep measuring the rest
                import traceback
                traceback.print_exc()
                r = {"error": f"{type(e).__name__}: {e}"}
            res[kind][name] = r
            print(f"{kind} {name}: {time.time() - t0:.1f}s", flush=True)

    if "peak" in a.only:
        t0 = time.time()
        peak_runs["end"] = measure_peak(a)
        res["peak"] = combine_peaks(a, peak_runs)
        print(f"peak (end): {time.time() - t0:.1f}s", flush=True)
        add_fractions(res)

    # export last: writing ~0.5 GB while measuring halved the fp32 prefill rate (writeback
    # competes for the 2 cores)
    if a.export:
        t0 = time.time()
        res["export"] = export_model(a, models["fp32"], a.export)
        res["export"]["seconds"] = time.time() - t0
        print(f"exported HF checkpoint ({res['export']['tensors']} tensors) in "
              f"{res['export']['seconds']:.1f}s", flush=True)
    if a.export:
        write_safetensors(os.path.join(a.export, "bench_inputs.safetensors"),
                          {k: v.numpy().astype(np.float32 if v.is_floating_point() else np.int64)
                           for k, v in inputs.items()},
                          {"source": "bench_gemma_pytorch.py", "seed": a.seed})
        meta = {k: res[k] for k in ("benchmark", "args", "flop_model", "model", "export")}
        meta["inputs"] = {k: list(v.shape) for k, v in inputs.items()}
        with open(os.path.join(a.export, "bench_meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")

    res["machine"]["cpu_time_split_during_run"] = cpu_split(cpu0, cpu_times())
    res["total_seconds"] = time.time() - t_start
    print_table(res)
    if any(v.get("disturbed") for v in res.get("peak", {}).values()):
        print("\nDRIFT: a peak probe moved a lot between start and end: the machine was "
              "disturbed; fractions use the higher phase median; consider a rerun")
    cs = res["machine"]["cpu_time_split_during_run"]
    print(f"\ntotal {res['total_seconds']:.1f}s" + (
        f"; CPU time split user {cs['user']:.0%} system {cs['system']:.0%} "
        f"idle {cs['idle']:.0%} steal {cs['steal']:.0%}" if cs else ""))
    if a.json:
        d = os.path.dirname(os.path.abspath(a.json))
        os.makedirs(d, exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
    failed = [f"{k}/{n}" for k in ("prefill", "train", "generate")
              for n, r in res.get(k, {}).items() if "error" in r]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
