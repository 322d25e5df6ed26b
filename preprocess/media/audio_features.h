// The Gemma 3n audio features: Hugging Face `Gemma3nAudioFeatureExtractor` (a USM log-mel front
// end) for one clip, reproduced step by step so the stored features equal what the Python
// processor feeds the model. The extractor never resamples: give it 16 kHz mono (audio_decode.h).
//
// Per clip (research/data-notes.md §6.4, gemma-spec.md §D.8):
//   truncate to max_samples, right-pad with zeros to a multiple of pad_to_multiple_of samples;
//   frames of frame_length + 1 samples every hop_length; per frame HTK pre-emphasis
//   (y[0] = (1 - a) s[0], y[n] = s[n] - a s[n-1], n < frame_length); periodic Hann window;
//   |rfft| zero-padded to fft_length (magnitude, not power); HTK-mel triangular filterbank without
//   area normalisation; ln(max(mel, mel_floor)); frame mask = sample mask taken every hop.
//
// Precision follows what HF computes: samples, pre-emphasis and windowing in float32 (HF pads
// into float32 arrays; its window is float32, and numpy's float32 cos is reproduced bit for bit),
// FFT, magnitude, mel projection and log in float64 (numpy < 2 runs rfft in float64; the
// filterbank is float64), output rounded to float32. Against a numpy 1.24 run of HF's algorithm
// the output is bit-identical. numpy >= 2 runs rfft of float32 input in float32, so HF's own output
// moves with the numpy version, in mel bands far below the frame's peak (measured with a float32
// FFT: up to 4e-1 on a pure-tone sweep, 9e-4 on speech); float64 is the exact value of the formula.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/audio_decode.h"

namespace omnitune {

// The extractor's constants. Defaults are the shipped google/gemma-3n preprocessor_config.json
// (per_bin_mean/stddev null, dither 0, input_scale_factor 1: none of those steps exist here).
struct AudioFeatureConfig {
  int sample_rate = 16000;    // Hz of the input samples (the extractor never resamples)
  int mel_bins = 128;         // feature_size
  int frame_length = 512;     // round(16000 * 32 ms); frames are unfolded with one more sample
  int hop_length = 160;       // round(16000 * 10 ms)
  int fft_length = 1024;      // 2^ceil(log2(frame_length)), doubled by fft_overdrive; >= frame_length
  double preemphasis = 0.97;  // HTK flavour; 0 disables (then frames are the first frame_length samples)
  double min_freq = 125.0;    // Hz, lower edge of the first mel triangle
  double max_freq = 7600.0;   // Hz, upper edge of the last mel triangle
  double mel_floor = 1e-5;    // log(max(mel, mel_floor)); > 0
  int max_samples = 480000;   // truncation length (30 s), rounded up to pad_to_multiple_of like HF
  int pad_to_multiple_of = 128;  // right zero padding of the samples; 0 or 1 = none
  // HF pads every clip of a batch to the longest one before extracting; a clip alone (batch of
  // one, what the preprocessor stores) uses 0. Set it to the batch's longest clip length to get
  // exactly the features and mask HF gives this clip inside that batch.
  int pad_to_samples = 0;
};

// Features of one clip. Invariants: values.size() == frames * bins; mask.size() == frames;
// frames = (padded_samples - frame_length - 1) / hop_length + 1 >= 1.
struct AudioFeatures {
  int frames = 0;
  int bins = 0;
  std::vector<float> values;  // frames x bins, row-major: values[t * bins + m]
  // Per frame, 1 when the frame starts inside the clip's real samples (HF: attention_mask[::hop]
  // truncated to the frame count). A clip alone has every frame 1: padding to a multiple of 128
  // never reaches a whole hop past the last frame start.
  std::vector<uint8_t> mask;
};

// Number of feature frames for a clip of n samples under cfg (after truncation and padding);
// 0 when the padded clip is shorter than frame_length + 1 samples.
int gemma3n_frame_count(int64_t n_samples, const AudioFeatureConfig& cfg);

// The log-mel features of mono samples at cfg.sample_rate. `what` names the clip in errors.
// Throws omnitune::Error for an invalid config, non-finite samples or a clip too short for one
// frame (HF would return 0 frames, which the audio encoder cannot take).
AudioFeatures gemma3n_log_mel(const std::vector<float>& samples, const AudioFeatureConfig& cfg,
                              const std::string& what = "audio clip");

// Same, checking that the clip's sample rate is cfg.sample_rate (resample() it first).
AudioFeatures gemma3n_log_mel(const AudioClip& clip, const AudioFeatureConfig& cfg,
                              const std::string& what = "audio clip");

// The float32 periodic Hann window of frame_length samples, bit-identical to HF's (numpy's float32
// cos is reproduced; see audio_features.cpp); exposed for tests.
std::vector<float> gemma3n_hann_window(const AudioFeatureConfig& cfg);

// The [fft_length / 2 + 1, mel_bins] filterbank (row-major, float64) exactly as HF's
// create_fb_matrix builds it; exposed for tests and for anyone porting the features.
std::vector<double> gemma3n_mel_filterbank(const AudioFeatureConfig& cfg);

// The feature-extractor keys of a Gemma 3n `preprocessor_config.json` (feature_size,
// sampling_rate, frame_length, hop_length, fft_length, preemphasis, min/max_frequency, mel_floor,
// max_length (truncation samples), pad_to_multiple_of); absent keys keep the shipped defaults.
// Settings this extractor does not implement (per-bin normalisation, dither, input scaling) are
// an Error naming the file and key. A missing file gives the defaults.
AudioFeatureConfig audio_feature_config_load(const std::string& model_dir);

// A decoded clip (decode_audio / decode_audio_file: channels averaged) resampled to the extractor's
// rate and turned into log-mel frames (truncated at max_length samples, 30 s): what preprocessing
// stores and what omnitune-generate --audio feeds the model. Error (naming `what`) for a clip too
// short for one frame.
AudioFeatures audio_clip_features(AudioClip clip, const std::string& what, const AudioFeatureConfig& cfg);

}  // namespace omnitune
