// Audio decoding for the LibTorch-free preprocessor: any container libsndfile reads (WAV, FLAC,
// Ogg/Vorbis, Opus, MP3, AIFF, ...) to mono float samples, and resampling to the 16 kHz the Gemma 3n
// feature extractor expects. The format is sniffed from the bytes by libsndfile, never taken from a
// file name; channels are averaged like `datasets`' and librosa's `mono=True`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace omnitune {

// One decoded clip. Invariant after decode_audio/resample: sample_rate > 0, samples is mono and
// finite; integer PCM is normalised to [-1, 1) (float files keep their values).
struct AudioClip {
  int sample_rate = 0;         // Hz
  std::vector<float> samples;  // mono
  // Duration in seconds; 0 when sample_rate is 0.
  double seconds() const;
};

// Decodes audio bytes (any libsndfile format) and averages the channels into one. `what` names the
// clip in error messages ("row 17 audio", a path). Throws omnitune::Error for empty, corrupt or
// unsupported input, a truncated header, a stream that ends before the frame count its header
// announces (FLAC, AIFF, ...; libsndfile reconciles a cut WAV's data size with the file size, so
// that reads as the shorter clip it holds), a clip without a single frame, a sample rate of 0 and
// non-finite samples. Thread-safe, except that the message for a file libsndfile cannot open
// reads libsndfile's global error code (a concurrent failure elsewhere may lend it its reason).
AudioClip decode_audio(const uint8_t* data, size_t n, const std::string& what);

// Reads the whole file and decodes it with decode_audio; errors name the path.
AudioClip decode_audio_file(const std::string& path);

// Band-limited resampling with libsamplerate's SRC_SINC_BEST_QUALITY (97 dB SNR, 97% bandwidth;
// about 0.5 s per 11 s of 44.1 kHz mono on one core). The output has exactly
// ceil(n * target_rate / in.sample_rate) samples (librosa's and torchaudio's length rule), the
// clip taken as followed by silence at its end; a copy when the rates are equal. Throws
// omnitune::Error for a rate <= 0 or a ratio libsamplerate cannot do (outside 1/256 .. 256).
AudioClip resample(const AudioClip& in, int target_rate);

}  // namespace omnitune
