#!/usr/bin/env python3
"""Reference Gemma 3n audio features for the C++ parity tests (audio_features_test.cpp).

An independent numpy transcription of what Hugging Face's Gemma3nAudioFeatureExtractor computes
for a batch (transformers src/transformers/models/gemma3n/feature_extraction_gemma3n.py and
SequenceFeatureExtractor.pad): truncate to 480000 samples, pad with zeros to the longest clip of
the batch rounded up to a multiple of 128, cast to float32, unfold frames of 513 samples every 160,
HTK pre-emphasis in float32, periodic Hann window (float32), rfft n=1024 in float64 (numpy < 2),
magnitude, float64 HTK mel filterbank 125..7600 Hz without normalisation, log(max(., 1e-5)),
float32 output; frame mask = attention_mask[::160][:frames].

Usage: make_reference.py FIXTURES_AUDIO_DIR OUT_DIR
Writes OUT_DIR/manifest.tsv and per case NAME.wave.f32 (the clip, float32 LE), NAME.mel.f32
(frames x 128 float32 LE), NAME.mask.u8, plus filterbank.f64 (513 x 128 float64 LE) and
window.f32 (the 512-sample float32 Hann window, whose last bits come from numpy's float32 cos).
Needs numpy (Debian python3-numpy).
"""
import math
import os
import sys
import wave

try:
    import numpy as np
except ImportError:
    sys.exit("make_reference.py: numpy is missing; install the Debian package python3-numpy "
             "(scripts/install-deps.sh)")

SR = 16000
FRAME = 512          # round(16000 * 32 ms)
HOP = 160            # round(16000 * 10 ms)
NFFT = 1024          # 2 ** ceil(log2(512)) = 512, doubled by fft_overdrive
MELS = 128
FMIN, FMAX = 125.0, 7600.0
PREEMPH = 0.97
FLOOR = 1e-5
MAX_LEN = 480000
MULTIPLE = 128


def hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank():
    """[NFFT/2+1, MELS] float64 triangles in Hz between HTK-mel-spaced edges, peak 1, no norm."""
    n_freqs = NFFT // 2 + 1
    # HF's bin frequencies are a float32 arange times sr / n_fft, evaluated in float32.
    freqs = (np.arange(n_freqs, dtype=np.float32) * np.float32(SR / NFFT)).astype(np.float64)
    mels = np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), MELS + 2)
    edges = 700.0 * (np.power(10.0, mels / 2595.0) - 1.0)
    fb = np.zeros((n_freqs, MELS), dtype=np.float64)
    for j in range(MELS):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        fb[:, j] = np.clip(np.minimum(rising, falling), 0.0, None)
    return fb


def hann_f32():
    n = np.arange(FRAME, dtype=np.float32)
    arg = (np.float32(2 * np.pi) * n) / np.float32(FRAME)
    return (np.float32(0.5) * (np.float32(1.0) - np.cos(arg))).astype(np.float32)


def batch_pad(clips):
    """SequenceFeatureExtractor.pad(padding='longest', truncation=True, max_length=480000,
    pad_to_multiple_of=128): returns float32 padded clips and int masks."""
    max_len = MAX_LEN if MAX_LEN % MULTIPLE == 0 else (MAX_LEN // MULTIPLE + 1) * MULTIPLE
    cut = [np.asarray(c)[:max_len] for c in clips]
    target = max(len(c) for c in cut)
    if target % MULTIPLE:
        target = (target // MULTIPLE + 1) * MULTIPLE
    out = []
    for c in cut:
        x = np.zeros(target, dtype=np.float32)
        x[:len(c)] = c.astype(np.float32)
        m = np.zeros(target, dtype=np.int32)
        m[:len(c)] = 1
        out.append((x, m))
    return out


def log_mel(x32, mask, fb, window):
    n_frames = (len(x32) - (FRAME + 1)) // HOP + 1 if len(x32) >= FRAME + 1 else 0
    a = np.float32(PREEMPH)
    g = np.float32(1.0 - PREEMPH)
    feats = np.zeros((n_frames, MELS), dtype=np.float32)
    for t in range(n_frames):
        s = x32[t * HOP: t * HOP + FRAME + 1]                    # 513 samples, float32
        y = np.empty(FRAME, dtype=np.float32)
        y[0] = s[0] * g
        y[1:] = s[1:FRAME] - a * s[0:FRAME - 1]                  # s[512] is never used
        spec = np.abs(np.fft.rfft((y * window).astype(np.float64), n=NFFT))
        mel = spec @ fb
        feats[t] = np.log(np.maximum(mel, FLOOR)).astype(np.float32)
    frame_mask = mask[::HOP][:n_frames].astype(np.uint8)
    return feats, frame_mask


def read_wav_s16(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            sys.exit(f"make_reference.py: {path}: expected 16-bit mono PCM")
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return rate, (data.astype(np.float32) / np.float32(32768.0))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_reference.py FIXTURES_AUDIO_DIR OUT_DIR")
    fixtures, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    jfk_path = os.path.join(fixtures, "jfk-16k-mono.wav")
    if not os.path.isfile(jfk_path):
        sys.exit(f"make_reference.py: missing fixture {jfk_path}: the shared fixtures folder "
                 "(tests/fixtures/audio in the repository) must be present")

    rng = np.random.default_rng(1234)
    t = lambda n: np.arange(n, dtype=np.float64) / SR
    cases = []  # (name, clip, batch_longest or 0)

    # Exponential sweep 50 Hz -> 7.9 kHz, 5 s plus 48 samples (not a multiple of 128).
    n = 5 * SR + 48
    f0, f1, dur = 50.0, 7900.0, n / SR
    k = math.log(f1 / f0)
    phase = 2 * np.pi * f0 * dur / k * (np.exp(t(n) / dur * k) - 1.0)
    cases.append(("sweep", 0.5 * np.sin(phase), 0))
    cases.append(("silence", np.zeros(2 * SR), 0))
    cases.append(("noise", 0.1 * rng.standard_normal(3 * SR + 1), 0))
    n = int(0.3 * SR)
    cases.append(("short_0p3s", 0.4 * np.sin(2 * np.pi * 440.0 * t(n)) + 0.2 * np.sin(2 * np.pi * 1320.0 * t(n)), 0))
    # 31 s: chirp plus noise, truncated to 30 s (480000 samples -> 2997 frames).
    n = 31 * SR
    long_clip = 0.3 * np.sin(2 * np.pi * (200.0 * t(n) + 40.0 * t(n) ** 2)) + 0.05 * rng.standard_normal(n)
    cases.append(("long_31s", long_clip, 0))
    # A 1.0 s clip padded inside a batch whose longest clip has 27,250 samples: frames past the
    # clip's end get mask 0 (HF's batch behaviour, reproduced in C++ with pad_to_samples).
    n = SR
    cases.append(("batched_1s_in_27250", 0.25 * np.sin(2 * np.pi * 3000.0 * t(n)) * np.hanning(n), 27250))
    rate, jfk = read_wav_s16(jfk_path)
    if rate != SR:
        sys.exit(f"make_reference.py: {jfk_path}: expected {SR} Hz, got {rate}")
    cases.append(("jfk", jfk, 0))

    fb = mel_filterbank()
    fb.astype("<f8").tofile(os.path.join(out_dir, "filterbank.f64"))
    window = hann_f32()
    window.astype("<f4").tofile(os.path.join(out_dir, "window.f32"))
    lines = ["name\tsamples\tpad_to_samples\tframes\tbins"]
    for name, clip, longest in cases:
        clip32 = np.asarray(clip, dtype=np.float32)
        batch = [clip32] + ([np.zeros(longest, dtype=np.float32)] if longest else [])
        x32, mask = batch_pad(batch)[0]
        feats, frame_mask = log_mel(x32, mask, fb, window)
        clip32.astype("<f4").tofile(os.path.join(out_dir, name + ".wave.f32"))
        feats.astype("<f4").tofile(os.path.join(out_dir, name + ".mel.f32"))
        frame_mask.tofile(os.path.join(out_dir, name + ".mask.u8"))
        lines.append(f"{name}\t{len(clip32)}\t{longest}\t{feats.shape[0]}\t{feats.shape[1]}")
        print(f"{name}: {len(clip32)} samples -> {feats.shape[0]} frames x {feats.shape[1]}, "
              f"mask ones {int(frame_mask.sum())}, range [{feats.min():.4f}, {feats.max():.4f}]")
    with open(os.path.join(out_dir, "manifest.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    jfk_frames = int(lines[-1].split("\t")[3])
    if jfk_frames != 1097:
        sys.exit(f"make_reference.py: jfk gave {jfk_frames} frames, data-notes §6.4 says 1097")
    print(f"numpy {np.__version__}; wrote {len(cases)} cases to {out_dir}")


if __name__ == "__main__":
    main()
