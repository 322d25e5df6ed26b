// Gemma 3n log-mel properties that need no reference file: frame-count rule, silence, a tone in
// the right mel bin, truncation at 30 s, the filterbank's shape, the JFK clip's 1,097 frames and
// the WAV/FLAC pair giving the same features, and the errors for unusable clips.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <limits>

#include "audio_test_util.h"
#include "core/error.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"

namespace omnitune {
namespace {

using namespace audio_test;

TEST(AudioFeatures, FrameCountFollowsHfPaddingAndUnfold) {
  const AudioFeatureConfig cfg;
  EXPECT_EQ(gemma3n_frame_count(176000, cfg), 1097);  // jfk, 11 s
  EXPECT_EQ(gemma3n_frame_count(480000, cfg), 2997);  // 30 s cap
  EXPECT_EQ(gemma3n_frame_count(496000, cfg), 2997);  // truncated
  EXPECT_EQ(gemma3n_frame_count(4800, cfg), 28);      // 0.3 s -> 4864 padded
  EXPECT_EQ(gemma3n_frame_count(513, cfg), 1);        // padded to 640
  EXPECT_EQ(gemma3n_frame_count(512, cfg), 0);        // padded to 512 < 513
  EXPECT_EQ(gemma3n_frame_count(0, cfg), 0);
  AudioFeatureConfig batch = cfg;
  batch.pad_to_samples = 27250;  // in a batch whose longest clip has 27,250 samples
  EXPECT_EQ(gemma3n_frame_count(16000, batch), 168);
}

TEST(AudioFeatures, SilenceIsLogMelFloorEverywhere) {
  const AudioFeatureConfig cfg;
  const AudioFeatures f = gemma3n_log_mel(std::vector<float>(32000, 0.0f), cfg);
  ASSERT_EQ(f.frames, 197);
  ASSERT_EQ(f.bins, 128);
  const float expected = static_cast<float>(std::log(1e-5));
  for (float v : f.values) ASSERT_EQ(v, expected);
  for (uint8_t m : f.mask) ASSERT_EQ(m, 1);
}

// HTK mel triangle centres: the filterbank's edge points f_1 .. f_128.
std::vector<double> mel_centres(const AudioFeatureConfig& cfg) {
  const double m0 = 2595.0 * std::log10(1.0 + cfg.min_freq / 700.0);
  const double m1 = 2595.0 * std::log10(1.0 + cfg.max_freq / 700.0);
  std::vector<double> c;
  for (int j = 1; j <= cfg.mel_bins; ++j) {
    const double m = m0 + (m1 - m0) * j / (cfg.mel_bins + 1);
    c.push_back(700.0 * (std::pow(10.0, m / 2595.0) - 1.0));
  }
  return c;
}

TEST(AudioFeatures, ToneOf1kHzPeaksInTheNearestMelBin) {
  const AudioFeatureConfig cfg;
  const std::vector<double> centres = mel_centres(cfg);
  int nearest = 0;
  for (int j = 1; j < cfg.mel_bins; ++j)
    if (std::fabs(centres[j] - 1000.0) < std::fabs(centres[nearest] - 1000.0)) nearest = j;
  const AudioFeatures f = gemma3n_log_mel(sine(1000.0, 0.5, 16000, 16000), cfg);
  ASSERT_EQ(f.frames, 97);
  for (int t = 0; t < f.frames; ++t) {
    const float* row = f.values.data() + static_cast<size_t>(t) * f.bins;
    const int peak = static_cast<int>(std::max_element(row, row + f.bins) - row);
    ASSERT_EQ(peak, nearest) << "frame " << t << ", centre of bin " << nearest << " = "
                             << centres[nearest] << " Hz";
  }
  std::printf("[ info ] 1 kHz tone peaks in mel bin %d (centre %.1f Hz)\n", nearest, centres[nearest]);
}

TEST(AudioFeatures, ClipsLongerThan30sAreTruncated) {
  const AudioFeatureConfig cfg;
  std::vector<float> x = sine(440.0, 0.3, 16000, 31 * 16000);
  for (size_t i = 480000; i < x.size(); ++i) x[i] = 0.9f;  // the cut part must not matter
  const AudioFeatures full = gemma3n_log_mel(x, cfg);
  const AudioFeatures cut = gemma3n_log_mel(std::vector<float>(x.begin(), x.begin() + 480000), cfg);
  EXPECT_EQ(full.frames, 2997);
  EXPECT_EQ(full.values, cut.values);
  EXPECT_EQ(full.mask, cut.mask);
}

TEST(AudioFeatures, BatchPaddingMasksFramesPastTheClip) {
  AudioFeatureConfig cfg;
  cfg.pad_to_samples = 27250;
  const std::vector<float> x = sine(2000.0, 0.3, 16000, 16000);
  const AudioFeatures f = gemma3n_log_mel(x, cfg);
  ASSERT_EQ(f.frames, 168);
  for (int t = 0; t < f.frames; ++t) EXPECT_EQ(f.mask[t], t * 160 < 16000 ? 1 : 0) << t;
  // Frames that lie wholly inside the clip are the same as for the clip alone.
  const AudioFeatures alone = gemma3n_log_mel(x, AudioFeatureConfig{});
  const int whole = (16000 - 513) / 160 + 1;
  ASSERT_EQ(alone.frames, whole);
  EXPECT_TRUE(std::equal(alone.values.begin(), alone.values.begin() + whole * 128, f.values.begin()));
}

TEST(AudioFeatures, FilterbankIsHtkTrianglesWithoutNorm) {
  const AudioFeatureConfig cfg;
  const std::vector<double> fb = gemma3n_mel_filterbank(cfg);
  ASSERT_EQ(fb.size(), 513u * 128u);
  const std::vector<double> centres = mel_centres(cfg);
  for (int j = 0; j < 128; ++j) {
    double peak = 0;
    int peak_k = 0, nonzero = 0;
    for (int k = 0; k < 513; ++k) {
      const double w = fb[static_cast<size_t>(k) * 128 + j];
      ASSERT_GE(w, 0.0);
      ASSERT_LE(w, 1.0);
      if (w > 0) ++nonzero;
      if (w > peak) {
        peak = w;
        peak_k = k;
      }
    }
    ASSERT_GT(nonzero, 0) << "mel bin " << j << " is empty";
    // The peak bin is the FFT bin (15.625 Hz apart) nearest the triangle's centre.
    EXPECT_LE(std::fabs(peak_k * 15.625 - centres[j]), 15.625) << j;
  }
  // 125 Hz .. 7600 Hz: bins 0..7 (<= 109 Hz) and 487.. (>= 7609 Hz) carry no weight.
  for (int j = 0; j < 128; ++j) {
    EXPECT_EQ(fb[static_cast<size_t>(8 - 1) * 128 + j], 0.0);
    EXPECT_EQ(fb[static_cast<size_t>(487) * 128 + j], 0.0);
  }
}

TEST(AudioFeatures, JfkWavAndFlacGiveTheSameFeatures) {
  const std::string wav_path = fixture_audio("jfk-16k-mono.wav");
  const std::string flac_path = fixture_audio("jfk-44k1-stereo.flac");
  ASSERT_TRUE(fixture_present(wav_path));
  ASSERT_TRUE(fixture_present(flac_path));
  const AudioFeatureConfig cfg;
  const AudioClip wav = decode_audio_file(wav_path);

  // Time the features alone (best of 5) for the 11 s clip.
  double best_ms = 1e9;
  AudioFeatures fw;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fw = gemma3n_log_mel(wav, cfg, wav_path);
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  ASSERT_EQ(fw.frames, 1097);
  ASSERT_EQ(fw.bins, 128);
  ASSERT_EQ(fw.values.size(), 1097u * 128u);
  ASSERT_EQ(fw.mask, std::vector<uint8_t>(1097, 1));

  const AudioFeatures ff = gemma3n_log_mel(resample(decode_audio_file(flac_path), 16000), cfg, flac_path);
  ASSERT_EQ(ff.frames, 1097);
  // The WAV was resampled elsewhere (another converter, 16-bit output): the two clips differ in
  // the converters' transition bands (7-8 kHz, the top mel bins) and in the 16-bit noise floor of
  // quiet frames, where log-mel is ill-conditioned. Speech bands and loud cells must agree.
  const DiffStats d = diff_stats(fw.values, ff.values);
  double low_sum = 0, loud_sum = 0;
  size_t loud_n = 0;
  std::vector<float> low_diffs;
  for (size_t i = 0; i < fw.values.size(); ++i) {
    const double diff = std::fabs(fw.values[i] - ff.values[i]);
    if (i % 128 < 112) {  // mel bins below ~5.5 kHz
      low_sum += diff;
      low_diffs.push_back(static_cast<float>(diff));
    }
    if (fw.values[i] > -4.0f) {
      loud_sum += diff;
      ++loud_n;
    }
  }
  const size_t p99 = low_diffs.size() * 99 / 100;
  std::nth_element(low_diffs.begin(), low_diffs.begin() + p99, low_diffs.end());
  const double low_mean = low_sum / low_diffs.size();
  const double loud_mean = loud_sum / loud_n;
  std::printf("[ info ] jfk log-mel WAV vs FLAC->16k: all cells max |diff| %.3f (frame %zu bin %zu), "
              "mean %.4f; bins < 112 (< 5.5 kHz) mean %.4f, p99 %.4f; cells with WAV > -4 (%zu) mean "
              "%.4f; features of 11 s: %.2f ms\n",
              d.max_abs, d.argmax / 128, d.argmax % 128, d.mean_abs, low_mean, low_diffs[p99], loud_n,
              loud_mean, best_ms);
  EXPECT_LT(low_mean, 0.01);
  EXPECT_LT(low_diffs[p99], 0.1);
  EXPECT_LT(loud_mean, 0.01);
  EXPECT_LT(d.mean_abs, 0.05);
}

template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected omnitune::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg;
  }
}

TEST(AudioFeatures, UnusableClipsAreErrors) {
  const AudioFeatureConfig cfg;
  expect_error([&] { gemma3n_log_mel(std::vector<float>(512, 0.1f), cfg, "row 5 audio"); },
               {"row 5 audio", "too short", "513 samples"});
  expect_error([&] { gemma3n_log_mel(std::vector<float>{}, cfg, "row 6 audio"); }, {"row 6 audio", "too short"});
  std::vector<float> nan_clip(16000, 0.1f);
  nan_clip[100] = std::numeric_limits<float>::infinity();
  expect_error([&] { gemma3n_log_mel(nan_clip, cfg, "row 7 audio"); }, {"row 7 audio", "finite"});
  AudioClip clip;
  clip.sample_rate = 44100;
  clip.samples.assign(44100, 0.0f);
  expect_error([&] { gemma3n_log_mel(clip, cfg, "row 8 audio"); }, {"row 8 audio", "44100 Hz", "resample"});
}

TEST(AudioFeatures, InvalidConfigIsAnError) {
  AudioFeatureConfig cfg;
  cfg.fft_length = 256;
  expect_error([&] { gemma3n_log_mel(std::vector<float>(16000), cfg); }, {"fft_length"});
  cfg = AudioFeatureConfig{};
  cfg.mel_floor = 0;
  expect_error([&] { gemma3n_log_mel(std::vector<float>(16000), cfg); }, {"mel_floor"});
  cfg = AudioFeatureConfig{};
  cfg.max_freq = 100;
  expect_error([&] { gemma3n_log_mel(std::vector<float>(16000), cfg); }, {"max_freq"});
  cfg = AudioFeatureConfig{};
  cfg.hop_length = 0;
  expect_error([&] { gemma3n_log_mel(std::vector<float>(16000), cfg); }, {"hop_length"});
}

}  // namespace
}  // namespace omnitune
