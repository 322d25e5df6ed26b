// Helpers shared by the audio unit tests: fixture paths (a missing fixture fails, never skips),
// byte I/O, an in-memory 16-bit WAV writer, encoding through libsndfile to any format it writes,
// synthetic signals and comparison statistics.
#pragma once

#include "../test_util.h"

#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace omnitune::audio_test {

using test_util::fixture_present;
using test_util::read_bytes;
using test_util::write_bytes;

inline std::string fixture_audio(const std::string& name) { return test_util::fixture("audio", name); }

// A scratch folder for this test process, removed at exit, and a file path in it unique to the
// running test.
inline const std::filesystem::path& temp_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir()
        : path(std::filesystem::temp_directory_path() /
               ("omnitune_audio_test_" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path;
}
inline std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return (temp_dir() / (std::string(info->name()) + "_" + name)).string();
}

inline void put_u16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v & 0xff));
  b.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
}
inline void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  put_u16(b, v & 0xffff);
  put_u16(b, v >> 16);
}

// A canonical 44-byte-header PCM 16-bit WAV; samples are interleaved, in [-1, 1].
inline std::vector<uint8_t> make_wav_s16(const std::vector<float>& interleaved, int rate, int channels) {
  std::vector<uint8_t> b;
  const uint32_t data_bytes = static_cast<uint32_t>(interleaved.size() * 2);
  b.insert(b.end(), {'R', 'I', 'F', 'F'});
  put_u32(b, 36 + data_bytes);
  b.insert(b.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
  put_u32(b, 16);
  put_u16(b, 1);  // PCM
  put_u16(b, static_cast<uint32_t>(channels));
  put_u32(b, static_cast<uint32_t>(rate));
  put_u32(b, static_cast<uint32_t>(rate * channels * 2));
  put_u16(b, static_cast<uint32_t>(channels * 2));
  put_u16(b, 16);
  b.insert(b.end(), {'d', 'a', 't', 'a'});
  put_u32(b, data_bytes);
  for (float x : interleaved) {
    const long v = std::lround(std::clamp(x, -1.0f, 1.0f) * 32767.0f);
    put_u16(b, static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(v))));
  }
  return b;
}

// Encodes mono samples with libsndfile to `format` (e.g. SF_FORMAT_OGG | SF_FORMAT_VORBIS) through
// a temp file and returns the file's bytes; empty when libsndfile cannot write the format.
inline std::vector<uint8_t> encode_with_sndfile(const std::vector<float>& mono, int rate, int format,
                                                const std::string& ext) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = format;
  if (!sf_format_check(&info)) return {};
  const std::string path = temp_path("encoded." + ext);
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) return {};
  sf_writef_float(f, mono.data(), static_cast<sf_count_t>(mono.size()));
  sf_close(f);
  std::vector<uint8_t> bytes = read_bytes(path);
  std::filesystem::remove(path);
  return bytes;
}

inline std::vector<float> sine(double freq, double amp, int rate, int64_t n, double phase = 0.0) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    x[static_cast<size_t>(i)] = static_cast<float>(amp * std::sin(2.0 * M_PI * freq * i / rate + phase));
  return x;
}

// Normalised correlation of the common prefix of a and b.
inline double normalized_correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n = std::min(a.size(), b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return (aa > 0 && bb > 0) ? ab / std::sqrt(aa * bb) : 0.0;
}

struct DiffStats {
  double max_abs = 0;
  double mean_abs = 0;
  size_t argmax = 0;
};
inline DiffStats diff_stats(const std::vector<float>& a, const std::vector<float>& b) {
  DiffStats s;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    s.mean_abs += d;
    if (d > s.max_abs) {
      s.max_abs = d;
      s.argmax = i;
    }
  }
  if (n) s.mean_abs /= static_cast<double>(n);
  return s;
}

// Root-mean-square amplitude at `freq` by correlation with a complex exponential (the Goertzel
// quantity), scaled so a sine of amplitude A reads A.
inline double tone_amplitude(const std::vector<float>& x, double freq, int rate) {
  double re = 0, im = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ph = 2.0 * M_PI * freq * static_cast<double>(i) / rate;
    re += x[i] * std::cos(ph);
    im += x[i] * std::sin(ph);
  }
  return 2.0 * std::sqrt(re * re + im * im) / static_cast<double>(x.size());
}

}  // namespace omnitune::audio_test
