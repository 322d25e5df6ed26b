#!/usr/bin/env python3
"""Pillow reference set for the media unit tests (tests/unit/media/pillow_parity_test.cpp).

Writes source images into OUT_DIR/src -- PNG in every colour type and bit depth, interlaced,
with tRNS and eXIf; JPEG baseline, progressive, 4:4:4, 4:2:2, gray, CMYK and EXIF orientations
1-8 -- plus the two real fixture images, then what Pillow makes of each: the decoded pixels
(load, ImageOps.exif_transpose, convert("RGB"), as the Hugging Face `datasets` Image feature and
the Gemma processors do) and Image.resize(size, BILINEAR) of those pixels, as raw .bin files
indexed by OUT_DIR/index.json. The C++ test decodes the same files and resizes the same pixels.

Some PNG layouts (16-bit RGB, interlaced, low bit depths, short palettes) cannot be written by
Pillow, so a small PNG writer below builds them; Pillow still decodes them for the reference.

Usage: make_pillow_refs.py FIXTURE_IMAGES_DIR OUT_DIR
Needs Pillow; on Debian 12 that is the package python3-pil (scripts/install-deps.sh).
"""

import io
import json
import os
import random
import shutil
import struct
import sys
import warnings
import zlib

try:
    from PIL import Image, ImageOps
    import PIL
except ImportError:
    sys.exit(f"{sys.executable}: Pillow is not installed for this Python; install the Debian "
             "package python3-pil (scripts/install-deps.sh) and re-run the tests")

# convert("RGB") of a palette image with tRNS warns that alpha is dropped; dropping it is the
# behaviour under test.
warnings.filterwarnings("ignore", message="Palette images with Transparency")

BILINEAR = Image.Resampling.BILINEAR if hasattr(Image, "Resampling") else Image.BILINEAR


# ----------------------------------------------------------------------------------------------
# Minimal PNG writer (any colour type / bit depth, Adam7, all five filter types)

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def pack_samples(samples, depth):
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return struct.pack(f">{len(samples)}H", *samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc, nbits = (acc << depth) | s, nbits + depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(kind, row, prev, bpp):
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out[i] = (x - pred) & 0xFF
    return bytes([kind]) + bytes(out)


def write_png(path, w, h, color_type, depth, pixels, interlace=False, plte=None, trns=None,
              exif=None, exif_after_idat=False):
    """pixels[y][x] is a tuple of samples. Rows use filter types 0..4 in turn."""
    bpp = max(1, CHANNELS[color_type] * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw, row_index = bytearray(), 0
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        if not xs or not ys:
            continue
        prev = None
        for y in ys:
            row = pack_samples([s for x in xs for s in pixels[y][x]], depth)
            raw += filter_row(row_index % 5, row, prev, bpp)
            prev, row_index = row, row_index + 1
    body = zlib.compress(bytes(raw), 9)
    half = len(body) // 2  # two IDAT chunks, as most encoders write several
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0,
                                          1 if interlace else 0))
    if plte is not None:
        out += png_chunk(b"PLTE", bytes(v for rgb in plte for v in rgb))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    if exif is not None and not exif_after_idat:
        out += png_chunk(b"eXIf", exif)
    out += png_chunk(b"IDAT", body[:half]) + png_chunk(b"IDAT", body[half:])
    if exif is not None and exif_after_idat:
        out += png_chunk(b"eXIf", exif)
    out += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def random_pixels(rng, w, h, channels, maxval):
    return [[tuple(rng.randrange(maxval + 1) for _ in range(channels)) for _ in range(w)]
            for _ in range(h)]


# ----------------------------------------------------------------------------------------------
# EXIF blocks (TIFF structure) with an Orientation tag, in either byte order

def exif_tiff(orientation, big_endian):
    """IFD0 with Make (ASCII, stored out of line) then Orientation, so a reader must walk entries."""
    e = ">" if big_endian else "<"
    make = b"omnitune\0"
    ifd_offset, n_entries = 8, 2
    make_offset = ifd_offset + 2 + 12 * n_entries + 4
    body = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", ifd_offset)
    body += struct.pack(e + "H", n_entries)
    body += struct.pack(e + "HHII", 0x010F, 2, len(make), make_offset)
    body += struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    body += struct.pack(e + "I", 0) + make
    return body


# ----------------------------------------------------------------------------------------------
# Content

def noise_image(rng, mode, w, h):
    channels = {"L": 1, "RGB": 3, "RGBA": 4, "LA": 2}[mode]
    return Image.frombytes(mode, (w, h), rng.randbytes(w * h * channels))


def smooth_image(rng, mode, w, h):
    """Gradients with a little noise: photo-like content for JPEG, texture for resizing."""
    lin = Image.linear_gradient("L").resize((w, h), BILINEAR)
    rad = Image.radial_gradient("L").resize((w, h), BILINEAR)
    bands = [lin, rad, ImageOps.invert(lin.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
    base = Image.merge("RGB", bands) if mode == "RGB" else Image.blend(lin, rad, 0.5)
    return Image.blend(base, noise_image(rng, base.mode, w, h), 0.12)


class RefSet:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.src_dir = os.path.join(out_dir, "src")
        os.makedirs(self.src_dir, exist_ok=True)
        self.entries = []

    def path(self, name):
        return os.path.join(self.src_dir, name)

    def add(self, name, path, fmt, channels, resize=False):
        """Records Pillow's decode of `path` (and resizes of it) as the reference."""
        with Image.open(path) as im:
            im.load()
            rgb = ImageOps.exif_transpose(im).convert("RGB")
        w, h = rgb.size
        decoded = name + ".decoded.rgb.bin"
        with open(os.path.join(self.out_dir, decoded), "wb") as f:
            f.write(rgb.tobytes())
        entry = {"name": name, "file": os.path.abspath(path), "format": fmt,
                 "channels": channels, "width": w, "height": h, "decoded_rgb": decoded,
                 "resizes": []}
        if resize:
            # Gray sources are resized as mode L, colour ones as RGB: both C++ code paths.
            src = Image.frombytes("L", (w, h), rgb.tobytes()[0::3]) if channels == 1 else rgb
            targets = [(896, 896), (768, 768), (64, 48)]
            if w * h <= 512 * 512:
                targets.append((w + w // 2 + 1, h + h // 3 + 2))  # a non-integer upscale
            for tw, th in targets:
                out = src.resize((tw, th), BILINEAR)
                fname = f"{name}.resize_{tw}x{th}.bin"
                with open(os.path.join(self.out_dir, fname), "wb") as f:
                    f.write(out.tobytes())
                entry["resizes"].append({"width": tw, "height": th, "file": fname})
        self.entries.append(entry)


def build(fixture_dir, out_dir):
    rng = random.Random(20240611)
    refs = RefSet(out_dir)
    p = refs.path

    # The real fixtures, read in place.
    refs.add("fixture_cxr_gray_512", os.path.join(fixture_dir, "cxr-gray-512.png"), "png", 1,
             resize=True)
    refs.add("fixture_brain_palette_181x217",
             os.path.join(fixture_dir, "brain-palette-181x217.png"), "png", 1, resize=True)

    # PNGs written by Pillow.
    def save_png(name, im, channels, resize=False, **kw):
        im.save(p(name + ".png"), "PNG", **kw)
        refs.add(name, p(name + ".png"), "png", channels, resize)

    save_png("png_gray_noise_181x217", noise_image(rng, "L", 181, 217), 1, resize=True)
    save_png("png_gray_smooth_512", smooth_image(rng, "L", 512, 512), 1)
    save_png("png_rgb_noise_181x217", noise_image(rng, "RGB", 181, 217), 3, resize=True)
    save_png("png_rgb_smooth_512x384", smooth_image(rng, "RGB", 512, 384), 3, resize=True)
    save_png("png_rgba_noise_64x64", noise_image(rng, "RGBA", 64, 64), 3)
    save_png("png_la_noise_37x29", noise_image(rng, "LA", 37, 29), 1)
    pal = smooth_image(rng, "RGB", 181, 217).quantize(colors=200)
    save_png("png_palette_trns_181x217", pal, 3, resize=True, transparency=5)
    save_png("png_1bit_67x45", noise_image(rng, "L", 67, 45).convert("1"), 1)
    gray16 = Image.frombytes("I;16", (181, 217), struct.pack(
        "<%dH" % (181 * 217), *[rng.randrange(400) for _ in range(181 * 217)]))
    save_png("png_gray16_181x217", gray16, 1)  # values 0..399: Pillow clips those above 255
    save_png("png_gray_1x1", noise_image(rng, "L", 1, 1), 1, resize=True)
    save_png("png_rgb_3x1000", noise_image(rng, "RGB", 3, 1000), 3, resize=True)
    save_png("png_rgb_1000x3", noise_image(rng, "RGB", 1000, 3), 3, resize=True)
    save_png("png_rgb_exif6_37x29", noise_image(rng, "RGB", 37, 29), 3,
             exif=b"Exif\0\0" + exif_tiff(6, big_endian=False))

    # A PNG saved under a .jpg name: the decoder must go by the bytes.
    shutil.copyfile(p("png_rgb_noise_181x217.png"), p("png_named_as.jpg"))
    refs.add("png_named_as_jpg", p("png_named_as.jpg"), "png", 3)

    # PNG layouts Pillow cannot write.
    def crafted(name, w, h, ct, depth, channels, maxval=None, **kw):
        n = CHANNELS[ct]
        pixels = random_pixels(rng, w, h, n, maxval if maxval is not None else (1 << depth) - 1)
        write_png(p(name + ".png"), w, h, ct, depth, pixels, **kw)
        refs.add(name, p(name + ".png"), "png", channels)

    crafted("cpng_rgb16_37x29", 37, 29, 2, 16, 3)
    crafted("cpng_rgba16_37x29", 37, 29, 6, 16, 3)
    crafted("cpng_la16_37x29", 37, 29, 4, 16, 1)
    crafted("cpng_gray16_interlaced_37x29", 37, 29, 0, 16, 1, maxval=600, interlace=True)
    crafted("cpng_gray1_interlaced_37x29", 37, 29, 0, 1, 1, interlace=True)
    crafted("cpng_gray2_37x29", 37, 29, 0, 2, 1)
    crafted("cpng_gray4_37x29", 37, 29, 0, 4, 1)
    crafted("cpng_gray8_interlaced_3x2", 3, 2, 0, 8, 1, interlace=True)  # empty Adam7 passes
    crafted("cpng_rgb8_interlaced_181x217", 181, 217, 2, 8, 3, interlace=True)
    crafted("cpng_rgba8_interlaced_37x29", 37, 29, 6, 8, 3, interlace=True)
    crafted("cpng_la8_interlaced_37x29", 37, 29, 4, 8, 1, interlace=True)
    color_plte = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(256)]
    crafted("cpng_pal1_37x29", 37, 29, 3, 1, 3, plte=color_plte[:2])
    crafted("cpng_pal2_37x29", 37, 29, 3, 2, 3, plte=color_plte[:4])
    # 5 palette entries but indices up to 15: Pillow shows the missing ones as (i, i, i).
    crafted("cpng_pal4_short_37x29", 37, 29, 3, 4, 3, plte=color_plte[:5])
    crafted("cpng_pal8_interlaced_trns_37x29", 37, 29, 3, 8, 3, plte=color_plte, interlace=True,
            trns=bytes(range(0, 256, 2)))
    gray_plte = [(v, v, v) for v in range(255, -1, -1)]
    crafted("cpng_pal8_gray_37x29", 37, 29, 3, 8, 1, plte=gray_plte)
    crafted("cpng_rgb8_exif8_after_idat_37x29", 37, 29, 2, 8, 3,
            exif=exif_tiff(8, big_endian=True), exif_after_idat=True)
    crafted("cpng_gray8_trns_37x29", 37, 29, 0, 8, 1, trns=struct.pack(">H", 7))

    # JPEGs written by Pillow (libjpeg-turbo underneath, like the decoder under test).
    def save_jpeg(name, im, channels, resize=False, **kw):
        im.save(p(name + ".jpg"), "JPEG", **kw)
        refs.add(name, p(name + ".jpg"), "jpeg", channels, resize)

    rgb512 = smooth_image(rng, "RGB", 512, 384)
    save_jpeg("jpg_rgb_420_512x384", rgb512, 3, resize=True, quality=90)
    save_jpeg("jpg_rgb_progressive_512x384", rgb512, 3, quality=90, progressive=True)
    save_jpeg("jpg_rgb_444_181x217", smooth_image(rng, "RGB", 181, 217), 3, quality=95,
              subsampling=0)
    save_jpeg("jpg_rgb_422_181x217", smooth_image(rng, "RGB", 181, 217), 3, quality=85,
              subsampling=1)
    save_jpeg("jpg_rgb_noise_181x217", noise_image(rng, "RGB", 181, 217), 3, quality=90)
    save_jpeg("jpg_gray_181x217", smooth_image(rng, "L", 181, 217), 1, resize=True, quality=90)
    save_jpeg("jpg_cmyk_64x48", smooth_image(rng, "RGB", 64, 48).convert("CMYK"), 3, quality=90)
    save_jpeg("jpg_rgb_1x1", noise_image(rng, "RGB", 1, 1), 3)
    save_jpeg("jpg_rgb_3x1000", smooth_image(rng, "RGB", 3, 1000), 3, quality=90)
    save_jpeg("jpg_rgb_2048x1536", smooth_image(rng, "RGB", 2048, 1536), 3, resize=True,
              quality=90)
    oriented = smooth_image(rng, "RGB", 61, 47)
    for o in range(1, 9):
        save_jpeg(f"jpg_exif_orientation{o}_61x47", oriented, 3, quality=92,
                  exif=b"Exif\0\0" + exif_tiff(o, big_endian=(o % 2 == 0)))
    save_jpeg("jpg_gray_exif_orientation6_61x47", smooth_image(rng, "L", 61, 47), 1, quality=92,
              exif=b"Exif\0\0" + exif_tiff(6, big_endian=False))

    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump({"pillow_version": PIL.__version__, "images": refs.entries}, f, indent=1)
    return len(refs.entries)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fixture_dir, out_dir = sys.argv[1], sys.argv[2]
    for f in ("cxr-gray-512.png", "brain-palette-181x217.png"):
        if not os.path.isfile(os.path.join(fixture_dir, f)):
            sys.exit(f"missing fixture {os.path.join(fixture_dir, f)}: the shared fixtures folder "
                     "(tests/fixtures/images in the repository) must be present")
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    n = build(fixture_dir, out_dir)
    print(f"wrote {n} Pillow {PIL.__version__} references to {out_dir}")


if __name__ == "__main__":
    main()
