// Audio decoding and resampling: the real JFK fixtures (16 kHz mono WAV and the same speech as
// 44.1 kHz stereo 24-bit FLAC must agree after downmix + resample), every format libsndfile writes
// round-tripped through decode_audio, and bad inputs that must end in omnitune::Error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <random>

#include "audio_test_util.h"
#include "core/error.h"
#include "media/audio_decode.h"

namespace omnitune {
namespace {

using namespace audio_test;

// Runs fn, expecting omnitune::Error whose message contains every needle.
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

TEST(AudioDecode, JfkWavIs16kMonoWith176000Samples) {
  const std::string path = fixture_audio("jfk-16k-mono.wav");
  ASSERT_TRUE(fixture_present(path));
  const AudioClip clip = decode_audio_file(path);
  EXPECT_EQ(clip.sample_rate, 16000);
  ASSERT_EQ(clip.samples.size(), 176000u);  // 352,000 data bytes of s16 mono
  EXPECT_DOUBLE_EQ(clip.seconds(), 11.0);
  // s16 PCM normalised by 1/32768: every sample is k/32768 and the speech is not clipped.
  float peak = 0;
  for (float x : clip.samples) {
    EXPECT_EQ(x * 32768.0f, std::round(x * 32768.0f));
    peak = std::max(peak, std::fabs(x));
  }
  EXPECT_GT(peak, 0.3f);
  EXPECT_LT(peak, 1.0f);
}

TEST(AudioDecode, MemoryAndFileDecodeAgree) {
  const std::string path = fixture_audio("jfk-16k-mono.wav");
  ASSERT_TRUE(fixture_present(path));
  const std::vector<uint8_t> bytes = read_bytes(path);
  const AudioClip a = decode_audio(bytes.data(), bytes.size(), "jfk bytes");
  const AudioClip b = decode_audio_file(path);
  EXPECT_EQ(a.sample_rate, b.sample_rate);
  EXPECT_EQ(a.samples, b.samples);
}

TEST(AudioDecode, JfkFlacDownmixedAndResampledMatchesWav) {
  const std::string wav_path = fixture_audio("jfk-16k-mono.wav");
  const std::string flac_path = fixture_audio("jfk-44k1-stereo.flac");
  ASSERT_TRUE(fixture_present(wav_path));
  ASSERT_TRUE(fixture_present(flac_path));
  const AudioClip wav = decode_audio_file(wav_path);
  const auto t0 = std::chrono::steady_clock::now();
  const AudioClip flac = decode_audio_file(flac_path);
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(flac.sample_rate, 44100);
  EXPECT_EQ(flac.samples.size(), 485100u);
  const AudioClip flac16 = resample(flac, 16000);
  const auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(flac16.sample_rate, 16000);
  EXPECT_EQ(flac16.samples.size(), 176000u);  // ceil(485100 * 16000 / 44100)

  // Aligned at lag 0: the correlation there beats every nearby shift.
  const double corr = normalized_correlation(wav.samples, flac16.samples);
  for (int lag = 1; lag <= 3; ++lag) {
    const std::vector<float> shifted(flac16.samples.begin() + lag, flac16.samples.end());
    EXPECT_GT(corr, normalized_correlation(wav.samples, shifted)) << "lag " << lag;
  }
  EXPECT_GT(corr, 0.999);
  // The last samples are converted too (not zero-filled): libsamplerate's own flush stops one short.
  for (size_t i = 175990; i < 176000; ++i) EXPECT_NEAR(flac16.samples[i], wav.samples[i], 2e-3) << i;
  const DiffStats d = diff_stats(wav.samples, flac16.samples);
  std::printf("[ info ] jfk FLAC 44.1k stereo -> 16k mono vs WAV: normalized correlation %.7f (1 - r = %.2e), "
              "max |diff| %.3g, mean |diff| %.3g; FLAC decode %.1f ms, resample %.1f ms\n",
              corr, 1.0 - corr, d.max_abs, d.mean_abs,
              std::chrono::duration<double, std::milli>(t1 - t0).count(),
              std::chrono::duration<double, std::milli>(t2 - t1).count());
}

TEST(AudioDecode, StereoIsAveragedToMono) {
  std::vector<float> interleaved;
  std::vector<float> expected;
  for (int i = 0; i < 1000; ++i) {
    const float l = static_cast<float>((i * 37) % 2001 - 1000) / 32768.0f;
    const float r = static_cast<float>((i * 91) % 1601 - 800) / 32768.0f;
    interleaved.push_back(l);
    interleaved.push_back(r);
    expected.push_back((l + r) / 2.0f);
  }
  const std::vector<uint8_t> wav = make_wav_s16(interleaved, 22050, 2);
  const AudioClip clip = decode_audio(wav.data(), wav.size(), "stereo wav");
  EXPECT_EQ(clip.sample_rate, 22050);
  ASSERT_EQ(clip.samples.size(), 1000u);
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_FLOAT_EQ(clip.samples[i], expected[i]) << i;
}

TEST(AudioDecode, WavRenamedFlacIsSniffedFromContent) {
  const std::string path = fixture_audio("jfk-16k-mono.wav");
  ASSERT_TRUE(fixture_present(path));
  const std::string renamed = temp_path("really_a_wav.flac");
  write_bytes(renamed, read_bytes(path));
  const AudioClip a = decode_audio_file(renamed);
  std::filesystem::remove(renamed);
  EXPECT_EQ(a.sample_rate, 16000);
  EXPECT_EQ(a.samples, decode_audio_file(path).samples);
}

// FLAC, Ogg/Vorbis, Ogg/Opus and MP3 written by libsndfile itself, decoded from memory: the rate
// and length survive, and a 440 Hz tone of amplitude 0.5 comes back at 440 Hz with amplitude 0.5
// (lossy codecs: within 10%; the MP3 and Opus encoders add a little delay and padding).
TEST(AudioDecode, EveryWrittenFormatRoundTrips) {
  const int rate = 16000;
  const std::vector<float> tone = sine(440.0, 0.5, rate, rate);
  struct Case {
    const char* name;
    int format;
    const char* ext;
    bool lossless;
  };
  const Case cases[] = {
      {"FLAC", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, "flac", true},
      {"Ogg/Vorbis", SF_FORMAT_OGG | SF_FORMAT_VORBIS, "ogg", false},
      {"Ogg/Opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, "opus", false},
      {"MP3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, "mp3", false},
      {"AIFF", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, "aiff", true},
      {"WAV float", SF_FORMAT_WAV | SF_FORMAT_FLOAT, "wav", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<uint8_t> bytes = encode_with_sndfile(tone, rate, c.format, c.ext);
    ASSERT_FALSE(bytes.empty()) << "libsndfile cannot write " << c.name << " on this system";
    const AudioClip clip = decode_audio(bytes.data(), bytes.size(), c.name);
    EXPECT_EQ(clip.sample_rate, rate);
    if (c.lossless) {
      ASSERT_EQ(clip.samples.size(), tone.size());
      EXPECT_LT(diff_stats(clip.samples, tone).max_abs, 1e-4);
    } else {
      EXPECT_NEAR(static_cast<double>(clip.samples.size()), rate, 0.15 * rate);
      // Measure away from the edges, where codec delay and fades live.
      const std::vector<float> mid(clip.samples.begin() + 3000,
                                   clip.samples.begin() + std::min<size_t>(clip.samples.size(), 13000));
      EXPECT_NEAR(tone_amplitude(mid, 440.0, rate), 0.5, 0.05);
      EXPECT_LT(tone_amplitude(mid, 1000.0, rate), 0.01);
    }
  }
}

TEST(AudioDecode, ZeroBytesIsAnError) {
  expect_error([] { decode_audio(nullptr, 0, "row 3 audio"); }, {"row 3 audio", "empty"});
  const std::string path = temp_path("empty.wav");
  write_bytes(path, {});
  expect_error([&] { decode_audio_file(path); }, {path, "empty"});
  std::filesystem::remove(path);
}

TEST(AudioDecode, MissingFileNamesThePath) {
  expect_error([] { decode_audio_file("/nonexistent/dir/clip.wav"); },
               {"/nonexistent/dir/clip.wav", "not found"});
}

TEST(AudioDecode, TruncatedHeaderIsAnError) {
  const std::string path = fixture_audio("jfk-16k-mono.wav");
  ASSERT_TRUE(fixture_present(path));
  const std::vector<uint8_t> bytes = read_bytes(path);
  for (size_t n : {4, 12, 20, 36, 43}) {
    SCOPED_TRACE(n);
    expect_error([&] { decode_audio(bytes.data(), n, "cut wav"); }, {"cut wav"});
  }
}

TEST(AudioDecode, GarbageIsAnError) {
  const std::string text = "this is a transcript, not audio\n";
  std::vector<uint8_t> garbage;
  for (int i = 0; i < 200; ++i) garbage.insert(garbage.end(), text.begin(), text.end());
  expect_error([&] { decode_audio(garbage.data(), garbage.size(), "row 9 audio"); },
               {"row 9 audio", "not a recognised audio format", "74 68 69 73"});

  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13,
                                    'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
  expect_error([&] { decode_audio(png.data(), png.size(), "an image"); }, {"an image"});
}

TEST(AudioDecode, WavWithoutFramesIsAnError) {
  const std::vector<uint8_t> wav = make_wav_s16({}, 16000, 1);
  expect_error([&] { decode_audio(wav.data(), wav.size(), "silent row"); }, {"silent row", "no"});
}

TEST(AudioDecode, SampleRateZeroIsAnError) {
  std::vector<uint8_t> wav = make_wav_s16(sine(440.0, 0.5, 16000, 1600), 16000, 1);
  for (int i = 24; i < 28; ++i) wav[static_cast<size_t>(i)] = 0;  // fmt sample rate field
  expect_error([&] { decode_audio(wav.data(), wav.size(), "rate0.wav"); }, {"rate0.wav"});
}

TEST(AudioDecode, NonFiniteFloatSamplesAreAnError) {
  std::vector<float> x = sine(440.0, 0.5, 16000, 1600);
  x[800] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<uint8_t> bytes = encode_with_sndfile(x, 16000, SF_FORMAT_WAV | SF_FORMAT_FLOAT, "wav");
  ASSERT_FALSE(bytes.empty());
  expect_error([&] { decode_audio(bytes.data(), bytes.size(), "nan.wav"); }, {"nan.wav", "finite"});
}

// A WAV whose data chunk is cut short decodes the frames that are there (libsndfile trusts the
// file size over the header); the clip is shorter, never garbage past the end.
TEST(AudioDecode, TruncatedDataKeepsTheFramesPresent) {
  const std::string path = fixture_audio("jfk-16k-mono.wav");
  ASSERT_TRUE(fixture_present(path));
  const std::vector<uint8_t> bytes = read_bytes(path);
  const AudioClip full = decode_audio(bytes.data(), bytes.size(), "full");
  const size_t header = bytes.size() - 2 * full.samples.size();  // 78: fmt + LIST chunks
  const size_t keep = header + 2 * 5000;
  const AudioClip cut = decode_audio(bytes.data(), keep, "cut");
  ASSERT_EQ(cut.samples.size(), 5000u);
  EXPECT_TRUE(std::equal(cut.samples.begin(), cut.samples.end(), full.samples.begin()));
}

TEST(AudioDecode, TruncatedFlacIsAnError) {
  const std::string path = fixture_audio("jfk-44k1-stereo.flac");
  ASSERT_TRUE(fixture_present(path));
  const std::vector<uint8_t> bytes = read_bytes(path);
  expect_error([&] { decode_audio(bytes.data(), bytes.size() / 2, "half.flac"); },
               {"half.flac", "truncated", "485100"});
  expect_error([&] { decode_audio(bytes.data(), 100, "head.flac"); }, {"head.flac"});
}

// Truncations and byte flips of real WAV and FLAC files: every outcome is a clip or an
// omnitune::Error, never a crash or another exception type.
TEST(AudioDecode, CorruptedFilesNeverCrash) {
  std::mt19937 rng(7);
  int decoded = 0, rejected = 0;
  for (const char* name : {"jfk-16k-mono.wav", "jfk-44k1-stereo.flac"}) {
    const std::string path = fixture_audio(name);
    ASSERT_TRUE(fixture_present(path));
    const std::vector<uint8_t> bytes = read_bytes(path);
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<uint8_t> b = bytes;
      if (trial % 2 == 0) {
        b.resize(std::uniform_int_distribution<size_t>(1, b.size() - 1)(rng));
      }
      const int flips = trial % 4 == 3 ? 50 : 8;
      for (int f = 0; f < flips; ++f) {
        // Concentrate on the headers, where a flip changes how the rest is read.
        const size_t span = trial % 3 == 0 ? b.size() : std::min<size_t>(b.size(), 8192);
        b[std::uniform_int_distribution<size_t>(0, span - 1)(rng)] ^=
            static_cast<uint8_t>(1u << std::uniform_int_distribution<int>(0, 7)(rng));
      }
      try {
        const AudioClip c = decode_audio(b.data(), b.size(), name);
        EXPECT_GT(c.sample_rate, 0);
        EXPECT_FALSE(c.samples.empty());
        ++decoded;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        ++rejected;
      }
    }
  }
  std::printf("[ info ] corrupted inputs: %d decoded, %d rejected with omnitune::Error\n", decoded, rejected);
}

TEST(AudioResample, SameRateIsACopy) {
  AudioClip in;
  in.sample_rate = 16000;
  in.samples = sine(1000.0, 0.5, 16000, 1234);
  const AudioClip out = resample(in, 16000);
  EXPECT_EQ(out.sample_rate, 16000);
  EXPECT_EQ(out.samples, in.samples);
}

// A pure tone keeps its frequency and amplitude through down- and up-sampling, and the output
// length follows ceil(n * target / source).
TEST(AudioResample, ToneKeepsFrequencyAmplitudeAndLength) {
  struct Case {
    int from, to;
    int64_t n;
  };
  for (const Case c : {Case{44100, 16000, 44100}, Case{48000, 16000, 48001}, Case{8000, 16000, 7999},
                       Case{22050, 16000, 22050}}) {
    SCOPED_TRACE(std::to_string(c.from) + " -> " + std::to_string(c.to));
    AudioClip in;
    in.sample_rate = c.from;
    in.samples = sine(1000.0, 0.5, c.from, c.n, 0.3);
    const AudioClip out = resample(in, c.to);
    EXPECT_EQ(out.sample_rate, c.to);
    EXPECT_EQ(static_cast<int64_t>(out.samples.size()), (c.n * c.to + c.from - 1) / c.from);
    // Compare with the ideal tone at the new rate, away from the filter's edge transients.
    const std::vector<float> ideal = sine(1000.0, 0.5, c.to, static_cast<int64_t>(out.samples.size()), 0.3);
    const std::vector<float> a(out.samples.begin() + 200, out.samples.end() - 200);
    const std::vector<float> b(ideal.begin() + 200, ideal.end() - 200);
    EXPECT_LT(diff_stats(a, b).max_abs, 2e-3);
    EXPECT_NEAR(tone_amplitude(a, 1000.0, c.to), 0.5, 1e-3);
  }
}

// Content above the new Nyquist frequency is removed, not folded back as an alias.
TEST(AudioResample, RemovesContentAboveTheNewNyquist) {
  AudioClip in;
  in.sample_rate = 44100;
  in.samples = sine(11000.0, 0.5, 44100, 44100);  // aliases to 5 kHz at 16 kHz if not filtered
  const AudioClip out = resample(in, 16000);
  const std::vector<float> mid(out.samples.begin() + 500, out.samples.end() - 500);
  EXPECT_LT(tone_amplitude(mid, 5000.0, 16000), 1e-4);
  double energy = 0;
  for (float x : mid) energy += static_cast<double>(x) * x;
  EXPECT_LT(std::sqrt(energy / mid.size()), 1e-3);
}

TEST(AudioResample, BadRatesAreErrors) {
  AudioClip in;
  in.sample_rate = 16000;
  in.samples = {0.1f, 0.2f};
  expect_error([&] { resample(in, 0); }, {"target sample rate"});
  AudioClip no_rate;
  no_rate.samples = {0.1f};
  expect_error([&] { resample(no_rate, 16000); }, {"sample rate 0"});
  in.sample_rate = 16000000;
  expect_error([&] { resample(in, 16000); }, {"16000000 Hz", "1/256"});
}

TEST(AudioResample, TinyClipsKeepTheLengthRule) {
  AudioClip in;
  in.sample_rate = 44100;
  AudioClip out = resample(in, 16000);
  EXPECT_EQ(out.sample_rate, 16000);
  EXPECT_TRUE(out.samples.empty());
  for (size_t n : {1, 2, 3, 100}) {
    in.samples.assign(n, 0.25f);
    out = resample(in, 16000);
    EXPECT_EQ(out.samples.size(), (n * 16000 + 44099) / 44100) << n;
    for (float x : out.samples) EXPECT_TRUE(std::isfinite(x));
    in.sample_rate = 8000;
    EXPECT_EQ(resample(in, 16000).samples.size(), 2 * n) << n;
    in.sample_rate = 44100;
  }
}

}  // namespace
}  // namespace omnitune
