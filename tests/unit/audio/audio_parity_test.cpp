// Parity of the C++ Gemma 3n log-mel with make_reference.py, an independent numpy transcription
// of Hugging Face's Gemma3nAudioFeatureExtractor, on synthetic clips (sweep, silence, noise, a
// 0.3 s clip, a 31 s clip that is truncated, a clip padded inside a batch) and the real JFK clip.
// The references are written at test time by the fixture test media_audio_refs into
// $OMNITUNE_AUDIO_REFS.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "audio_test_util.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"

namespace omnitune {
namespace {

using namespace audio_test;

// log-mel values are float32 of magnitude <= ~12, whose spacing there is ~1e-6: allow a few ULP
// of rounding difference (FFTW vs pocketfft, summation order), nothing more.
constexpr double kTolerance = 1e-4;

std::string refs_dir() {
  const char* d = std::getenv("OMNITUNE_AUDIO_REFS");
  return d ? d : "";
}

template <typename T>
std::vector<T> read_array(const std::string& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

struct RefCase {
  std::string name;
  int64_t samples = 0;
  int pad_to_samples = 0;
  int frames = 0;
  int bins = 0;
};

std::vector<RefCase> read_manifest(const std::string& dir) {
  std::ifstream in(dir + "/manifest.tsv");
  std::vector<RefCase> cases;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    RefCase c;
    ls >> c.name >> c.samples >> c.pad_to_samples >> c.frames >> c.bins;
    cases.push_back(c);
  }
  return cases;
}

class AudioParity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = refs_dir();
    ASSERT_FALSE(dir_.empty()) << "OMNITUNE_AUDIO_REFS is not set: run this test through ctest, "
                                  "which runs the fixture test media_audio_refs first";
    ASSERT_TRUE(std::filesystem::is_regular_file(dir_ + "/manifest.tsv"))
        << dir_ << "/manifest.tsv missing: the fixture test media_audio_refs (make_reference.py, "
                   "needs python3-numpy) did not run or failed";
  }
  std::string dir_;
};

TEST_F(AudioParity, FilterbankMatchesReference) {
  const std::vector<double> ref = read_array<double>(dir_ + "/filterbank.f64");
  const std::vector<double> fb = gemma3n_mel_filterbank(AudioFeatureConfig{});
  ASSERT_EQ(ref.size(), fb.size());
  double max_diff = 0;
  for (size_t i = 0; i < fb.size(); ++i) max_diff = std::max(max_diff, std::fabs(fb[i] - ref[i]));
  std::printf("[ info ] filterbank max |diff| vs numpy: %.3g\n", max_diff);
  EXPECT_LT(max_diff, 1e-12);
}

// Bit for bit: numpy's float32 cos is not correctly rounded, and a one-ulp change in the window
// moves near-empty mel bands of pure tones by up to 3e-2 (see audio_features.cpp).
TEST_F(AudioParity, HannWindowIsBitIdenticalToNumpy) {
  const std::vector<float> ref = read_array<float>(dir_ + "/window.f32");
  const std::vector<float> w = gemma3n_hann_window(AudioFeatureConfig{});
  ASSERT_EQ(ref.size(), 512u);
  ASSERT_EQ(w.size(), 512u);
  int differ = 0;
  for (size_t i = 0; i < w.size(); ++i) differ += std::memcmp(&w[i], &ref[i], sizeof(float)) != 0;
  EXPECT_EQ(differ, 0) << "window values that differ from numpy's";
}

TEST_F(AudioParity, LogMelMatchesReferenceOnEveryCase) {
  const std::vector<RefCase> cases = read_manifest(dir_);
  ASSERT_GE(cases.size(), 7u);
  double worst = 0;
  for (const RefCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<float> wave = read_array<float>(dir_ + "/" + c.name + ".wave.f32");
    const std::vector<float> ref = read_array<float>(dir_ + "/" + c.name + ".mel.f32");
    const std::vector<uint8_t> ref_mask = read_array<uint8_t>(dir_ + "/" + c.name + ".mask.u8");
    ASSERT_EQ(static_cast<int64_t>(wave.size()), c.samples);
    AudioFeatureConfig cfg;
    cfg.pad_to_samples = c.pad_to_samples;
    const AudioFeatures f = gemma3n_log_mel(wave, cfg, c.name);
    ASSERT_EQ(f.frames, c.frames);
    ASSERT_EQ(f.bins, c.bins);
    ASSERT_EQ(f.values.size(), ref.size());
    EXPECT_EQ(f.mask, ref_mask);
    const DiffStats d = diff_stats(f.values, ref);
    std::printf("[ info ] %-20s %7lld samples -> %4d x %d  max |diff| %.3g (frame %zu bin %zu)  mean %.3g\n",
                c.name.c_str(), static_cast<long long>(c.samples), f.frames, f.bins, d.max_abs,
                d.argmax / f.bins, d.argmax % f.bins, d.mean_abs);
    EXPECT_LT(d.max_abs, kTolerance);
    worst = std::max(worst, d.max_abs);
  }
  std::printf("[ info ] worst max |diff| over all cases: %.3g\n", worst);
}

// The whole path on the real clip: decode the WAV (bit-equal to the reference's s16 / 32768),
// then features equal to the reference's.
TEST_F(AudioParity, JfkDecodedWavMatchesReference) {
  const std::string path = fixture_audio("jfk-16k-mono.wav");
  ASSERT_TRUE(fixture_present(path));
  const AudioClip clip = decode_audio_file(path);
  const std::vector<float> ref_wave = read_array<float>(dir_ + "/jfk.wave.f32");
  ASSERT_EQ(clip.samples, ref_wave);
  const AudioFeatures f = gemma3n_log_mel(clip, AudioFeatureConfig{}, path);
  const std::vector<float> ref = read_array<float>(dir_ + "/jfk.mel.f32");
  ASSERT_EQ(f.frames, 1097);
  ASSERT_EQ(f.values.size(), ref.size());
  EXPECT_LT(diff_stats(f.values, ref).max_abs, kTolerance);
}

}  // namespace
}  // namespace omnitune
