#!/usr/bin/python3
"""The Python baseline of bench/preprocess: what a Hugging Face style preprocessing script does for
the images of a dataset, on one core: read each file, SHA-256 it (dedup), decode with Pillow,
apply EXIF orientation, resize to the processor size with Pillow's BILINEAR filter (the Gemma
processors' resample=2), and write uint8 arrays with h5py into one image per chunk.
Gray sources stay single-channel (as omnitune stores them), so the baseline does no more resize
work than omnitune. Prints "python <images> <seconds>" (the timed part excludes interpreter start
and imports). With OUT.h5 = "-" nothing is written: the decode + resize part alone.
Usage: python_baseline.py OUT.h5|- WIDTHxHEIGHT FILE..."""
import contextlib
import hashlib
import io
import sys
import time

import h5py
import numpy as np
from PIL import Image, ImageOps


def load(data):
    im = Image.open(io.BytesIO(data))
    im = ImageOps.exif_transpose(im)
    if im.mode == "P":
        pal = im.getpalette() or []
        gray = all(pal[i] == pal[i + 1] == pal[i + 2] for i in range(0, len(pal) - 2, 3))
        im = im.convert("L" if gray else "RGB")
    elif im.mode in ("I;16", "I", "LA"):
        im = im.convert("L")
    elif im.mode != "L":
        im = im.convert("RGB")
    return im


def main():
    out, size, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    w, h = (int(v) for v in size.split("x"))
    t0 = time.perf_counter()
    seen = set()
    write = out != "-"
    with (h5py.File(out, "w") if write else contextlib.nullcontext()) as f:
        sets = {c: f.create_dataset(name, (0, h, w, c), maxshape=(None, h, w, c), chunks=(1, h, w, c), dtype="u1")
                for c, name in ((3, "rgb"), (1, "gray"))} if write else {}
        for path in files:
            data = open(path, "rb").read()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            im = load(data).resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
            arr = arr.reshape(h, w, 1) if arr.ndim == 2 else arr
            if not write:
                continue
            ds = sets[arr.shape[2]]
            ds.resize(ds.shape[0] + 1, axis=0)
            ds[-1] = arr
    print(f"python {len(seen)} {time.perf_counter() - t0:.4f}")


if __name__ == "__main__":
    main()
