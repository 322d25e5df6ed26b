// Gemma 3n log-mel features (see audio_features.h for the algorithm and its precision). Written as
// one loop over frames: pre-emphasis and window in float32 exactly as numpy evaluates HF's
// expressions, then a float64 FFTW real FFT and a sparse float64 mel projection (each triangle
// touches a few dozen of the 513 bins, so the dense 513 x 128 matmul HF does is skipped).
#include "media/audio_features.h"

#include <fftw3.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>

#include "core/error.h"

namespace omnitune {
namespace {

// FFTW's planner is not thread-safe (fftw_execute is): every plan made or destroyed in this file
// goes through this lock.
std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

struct FftwFree {
  void operator()(void* p) const { fftw_free(p); }
};

// A 1-D real-to-complex plan with its own aligned buffers.
class RealFft {
 public:
  explicit RealFft(int n) : n_(n) {
    in_.reset(fftw_alloc_real(static_cast<size_t>(n)));
    out_.reset(fftw_alloc_complex(static_cast<size_t>(n / 2 + 1)));
    OT_CHECK(in_ && out_, "fftw_alloc for FFT length ", n);
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    plan_ = fftw_plan_dft_r2c_1d(n, in_.get(), out_.get(), FFTW_ESTIMATE);
    OT_CHECK(plan_ != nullptr, "fftw_plan_dft_r2c_1d(", n, ")");
  }
  ~RealFft() {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    fftw_destroy_plan(plan_);
  }
  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;

  double* in() { return in_.get(); }
  const fftw_complex* out() const { return out_.get(); }
  void execute() { fftw_execute(plan_); }

 private:
  int n_;
  std::unique_ptr<double, FftwFree> in_;
  std::unique_ptr<fftw_complex, FftwFree> out_;
  fftw_plan plan_ = nullptr;
};

int64_t round_up(int64_t n, int64_t multiple) {
  if (multiple <= 1) return n;
  return (n + multiple - 1) / multiple * multiple;
}

void validate(const AudioFeatureConfig& c) {
  OT_REQUIRE(c.sample_rate > 0, "audio features: sample_rate must be > 0, got ", c.sample_rate);
  OT_REQUIRE(c.mel_bins >= 1 && c.mel_bins <= 4096, "audio features: mel_bins must be in 1..4096, got ",
             c.mel_bins);
  OT_REQUIRE(c.frame_length >= 2, "audio features: frame_length must be >= 2 samples, got ",
             c.frame_length);
  OT_REQUIRE(c.hop_length >= 1, "audio features: hop_length must be >= 1 sample, got ", c.hop_length);
  OT_REQUIRE(c.fft_length >= c.frame_length && c.fft_length <= (1 << 20),
             "audio features: fft_length must be >= frame_length (", c.frame_length,
             ") and <= 1048576, got ", c.fft_length);
  OT_REQUIRE(c.preemphasis >= 0.0 && c.preemphasis < 1.0,
             "audio features: preemphasis must be in [0, 1), got ", c.preemphasis);
  OT_REQUIRE(c.min_freq >= 0.0 && c.max_freq > c.min_freq,
             "audio features: need 0 <= min_freq < max_freq, got ", c.min_freq, " and ", c.max_freq);
  OT_REQUIRE(c.mel_floor > 0.0, "audio features: mel_floor must be > 0, got ", c.mel_floor);
  OT_REQUIRE(c.max_samples > 0, "audio features: max_samples must be > 0, got ", c.max_samples);
  OT_REQUIRE(c.pad_to_multiple_of >= 0, "audio features: pad_to_multiple_of must be >= 0, got ",
             c.pad_to_multiple_of);
  OT_REQUIRE(c.pad_to_samples >= 0, "audio features: pad_to_samples must be >= 0, got ",
             c.pad_to_samples);
}

// HF's _truncate rounds max_length up to a multiple of pad_to_multiple_of before cutting.
int64_t truncation_length(const AudioFeatureConfig& c) {
  return round_up(c.max_samples, c.pad_to_multiple_of);
}

// Samples after truncation and padding (HF "longest" padding, pad_to_multiple_of).
int64_t padded_length(int64_t n_real, const AudioFeatureConfig& c) {
  const int64_t longest = std::max<int64_t>(n_real, std::min<int64_t>(c.pad_to_samples, truncation_length(c)));
  return round_up(longest, c.pad_to_multiple_of);
}

int64_t frames_for_padded(int64_t padded, const AudioFeatureConfig& c) {
  const int64_t unfold = int64_t{c.frame_length} + 1;
  return padded >= unfold ? (padded - unfold) / c.hop_length + 1 : 0;
}

// numpy's float32 cos (numpy >= 1.22 on CPUs with FMA: every x86-64 since Haswell, ARM NEON):
// Cody-Waite reduction by pi/2 and minimax polynomials, all fused multiply-adds, including the
// quadrant's x * 2/pi + rint-magic, which the compiler contracts when numpy is built. It is not
// correctly rounded (35 of HF's 512 window values differ by one ulp from libm's cosf), and one ulp
// in the window moves log-mel values of near-empty mel bands by up to 3e-2 on pure tones, so the
// window is reproduced bit for bit. Valid for |x| <= 71476 (the window needs [0, 2*pi)).
float numpy_cosf(float x) {
  const float two_over_pi = 0x1.45f306p-1f;
  const float pio2_high = -0x1.921fb0p+00f, pio2_med = -0x1.5110b4p-22f, pio2_low = -0x1.846988p-48f;
  const float rint_magic = 0x1.800000p+23f;
  const float q = std::fma(x, two_over_pi, rint_magic) - rint_magic;  // rint(x * 2/pi)
  float r = std::fma(q, pio2_high, x);
  r = std::fma(q, pio2_med, r);
  r = std::fma(q, pio2_low, r);
  const float r2 = r * r;
  float c = std::fma(0x1.98e616p-16f, r2, -0x1.6c06dcp-10f);
  c = std::fma(c, r2, 0x1.55553cp-05f);
  c = std::fma(c, r2, -0x1.000000p-01f);
  c = std::fma(c, r2, 0x1.000000p+00f);
  float s = std::fma(0x1.7d3bbcp-19f, r2, -0x1.a06bbap-13f);
  s = std::fma(s, r2, 0x1.11119ap-07f);
  s = std::fma(s, r2, -0x1.555556p-03f);
  s = std::fma(s, r2, 0.0f);
  s = std::fma(s, r, r);
  const int quadrant = static_cast<int>(std::nearbyint(q)) + 1;  // +1: cos(x) = sin(x + pi/2)
  const float v = (quadrant & 1) == 0 ? s : c;
  return (quadrant & 2) ? 0.0f - v : v;
}

// The periodic Hann window as HF builds it in float32: 0.5 * (1 - cos(2*pi*n / N)) where
// 2*pi*n is a float32 product and every later step is float32 too.
std::vector<float> hann_window_f32(int n) {
  const float two_pi = static_cast<float>(2.0 * 3.14159265358979323846);  // Python's 2 * np.pi
  const float len = static_cast<float>(n);
  std::vector<float> w(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const float arg = (two_pi * static_cast<float>(i)) / len;
    w[static_cast<size_t>(i)] = 0.5f * (1.0f - numpy_cosf(arg));
  }
  return w;
}

// One mel triangle as the span of FFT bins where its weight is non-zero.
struct MelBand {
  int first = 0;               // first bin with weight > 0
  std::vector<double> weight;  // weights of bins first, first + 1, ...
};

std::vector<MelBand> sparse_filterbank(const AudioFeatureConfig& c) {
  const std::vector<double> fb = gemma3n_mel_filterbank(c);
  const int n_freqs = c.fft_length / 2 + 1;
  std::vector<MelBand> bands(static_cast<size_t>(c.mel_bins));
  for (int m = 0; m < c.mel_bins; ++m) {
    int lo = -1, hi = -1;
    for (int k = 0; k < n_freqs; ++k) {
      if (fb[static_cast<size_t>(k) * c.mel_bins + m] > 0.0) {
        if (lo < 0) lo = k;
        hi = k;
      }
    }
    MelBand& b = bands[static_cast<size_t>(m)];
    if (lo < 0) continue;  // a triangle narrower than one bin: always 0, as in HF
    b.first = lo;
    for (int k = lo; k <= hi; ++k) b.weight.push_back(fb[static_cast<size_t>(k) * c.mel_bins + m]);
  }
  return bands;
}

}  // namespace

std::vector<double> gemma3n_mel_filterbank(const AudioFeatureConfig& c) {
  validate(c);
  const int n_freqs = c.fft_length / 2 + 1;
  const int n_mels = c.mel_bins;
  // Bin centre frequencies: numpy float32 arange times the Python float sr / fft_length, which
  // numpy evaluates in float32.
  const float bin_hz = static_cast<float>(static_cast<double>(c.sample_rate) / c.fft_length);
  std::vector<double> all_freqs(static_cast<size_t>(n_freqs));
  for (int k = 0; k < n_freqs; ++k) all_freqs[static_cast<size_t>(k)] = static_cast<float>(k) * bin_hz;

  // HTK mel scale; n_mels + 2 points equally spaced in mel like numpy.linspace (start + i * step,
  // the last point set to stop exactly), then back to Hz.
  const double m_min = 2595.0 * std::log10(1.0 + c.min_freq / 700.0);
  const double m_max = 2595.0 * std::log10(1.0 + c.max_freq / 700.0);
  const int n_pts = n_mels + 2;
  const double step = (m_max - m_min) / (n_pts - 1);
  std::vector<double> f_pts(static_cast<size_t>(n_pts));
  for (int i = 0; i < n_pts; ++i) {
    const double m = (i == n_pts - 1) ? m_max : static_cast<double>(i) * step + m_min;
    f_pts[static_cast<size_t>(i)] = 700.0 * (std::pow(10.0, m / 2595.0) - 1.0);
  }
  std::vector<double> fb(static_cast<size_t>(n_freqs) * n_mels);
  for (int k = 0; k < n_freqs; ++k) {
    const double f = all_freqs[static_cast<size_t>(k)];
    for (int j = 0; j < n_mels; ++j) {
      const double lo = f_pts[static_cast<size_t>(j)];
      const double mid = f_pts[static_cast<size_t>(j) + 1];
      const double hi = f_pts[static_cast<size_t>(j) + 2];
      const double down = -(lo - f) / (mid - lo);  // rising edge
      const double up = (hi - f) / (hi - mid);     // falling edge
      fb[static_cast<size_t>(k) * n_mels + j] = std::max(0.0, std::min(down, up));
    }
  }
  return fb;
}

std::vector<float> gemma3n_hann_window(const AudioFeatureConfig& cfg) {
  validate(cfg);
  return hann_window_f32(cfg.frame_length);
}

int gemma3n_frame_count(int64_t n_samples, const AudioFeatureConfig& cfg) {
  validate(cfg);
  const int64_t n_real = std::min<int64_t>(std::max<int64_t>(n_samples, 0), truncation_length(cfg));
  return static_cast<int>(frames_for_padded(padded_length(n_real, cfg), cfg));
}

AudioFeatures gemma3n_log_mel(const std::vector<float>& samples, const AudioFeatureConfig& cfg,
                              const std::string& what) {
  validate(cfg);
  const int64_t n_real = std::min<int64_t>(static_cast<int64_t>(samples.size()), truncation_length(cfg));
  for (int64_t i = 0; i < n_real; ++i) {
    OT_REQUIRE(std::isfinite(samples[static_cast<size_t>(i)]), what, ": sample ", i,
               " is not a finite number; the decoded audio is corrupt");
  }
  const int64_t padded = padded_length(n_real, cfg);
  const int64_t n_frames = frames_for_padded(padded, cfg);
  if (n_frames <= 0) {
    const int64_t unfold = int64_t{cfg.frame_length} + 1;
    const int64_t min_len = cfg.pad_to_multiple_of > 1
                                ? round_up(unfold, cfg.pad_to_multiple_of) - cfg.pad_to_multiple_of + 1
                                : unfold;
    OT_FAIL(what, ": audio clip of ", samples.size(), " samples (", 1000.0 * samples.size() / cfg.sample_rate,
            " ms at ", cfg.sample_rate, " Hz) is too short for one feature frame; the Gemma 3n "
            "features need at least ", min_len, " samples (", 1000.0 * min_len / cfg.sample_rate,
            " ms); drop the clip or pad it with silence");
  }

  const int L = cfg.frame_length;
  const int hop = cfg.hop_length;
  const int n_fft = cfg.fft_length;
  const int n_bins = n_fft / 2 + 1;
  const std::vector<float> window = hann_window_f32(L);
  const std::vector<MelBand> bands = sparse_filterbank(cfg);
  // numpy multiplies a float32 array by a Python float in float32: both coefficients are float32.
  const float a = static_cast<float>(cfg.preemphasis);
  const float first_gain = static_cast<float>(1.0 - cfg.preemphasis);
  const bool preemph = cfg.preemphasis > 0.0;
  const double floor = cfg.mel_floor;

  AudioFeatures out;
  out.frames = static_cast<int>(n_frames);
  out.bins = cfg.mel_bins;
  out.values.resize(static_cast<size_t>(n_frames) * cfg.mel_bins);
  out.mask.resize(static_cast<size_t>(n_frames));

  // The clip after truncation and zero padding: sample(i) for i < padded.
  auto sample = [&](int64_t i) -> float { return i < n_real ? samples[static_cast<size_t>(i)] : 0.0f; };

  RealFft fft(n_fft);
  double* in = fft.in();
  // [L, n_fft) stays zero (rfft's zero padding): an out-of-place r2c plan preserves its input.
  std::fill(in, in + n_fft, 0.0);
  std::vector<float> s(static_cast<size_t>(L) + 1);
  std::vector<double> mag(static_cast<size_t>(n_bins));
  for (int64_t t = 0; t < n_frames; ++t) {
    const int64_t start = t * hop;
    for (int i = 0; i <= L; ++i) s[static_cast<size_t>(i)] = sample(start + i);
    for (int i = 0; i < L; ++i) {
      float y;
      if (!preemph) {
        y = s[static_cast<size_t>(i)];
      } else if (i == 0) {
        y = s[0] * first_gain;  // HTK flavour: the first sample has no predecessor in the frame
      } else {
        const float prev = a * s[static_cast<size_t>(i) - 1];
        y = s[static_cast<size_t>(i)] - prev;
      }
      const float windowed = y * window[static_cast<size_t>(i)];
      in[i] = static_cast<double>(windowed);
    }
    fft.execute();
    const fftw_complex* X = fft.out();
    for (int k = 0; k < n_bins; ++k) mag[static_cast<size_t>(k)] = std::hypot(X[k][0], X[k][1]);
    float* row = out.values.data() + static_cast<size_t>(t) * cfg.mel_bins;
    for (int m = 0; m < cfg.mel_bins; ++m) {
      const MelBand& b = bands[static_cast<size_t>(m)];
      double acc = 0.0;
      for (size_t j = 0; j < b.weight.size(); ++j) acc += mag[static_cast<size_t>(b.first) + j] * b.weight[j];
      row[m] = static_cast<float>(std::log(std::max(acc, floor)));
    }
    out.mask[static_cast<size_t>(t)] = start < n_real ? 1 : 0;
  }
  return out;
}

AudioFeatures gemma3n_log_mel(const AudioClip& clip, const AudioFeatureConfig& cfg,
                              const std::string& what) {
  OT_REQUIRE(clip.sample_rate == cfg.sample_rate, what, ": audio is at ", clip.sample_rate,
             " Hz but the Gemma 3n features need ", cfg.sample_rate, " Hz; resample() it first");
  return gemma3n_log_mel(clip.samples, cfg, what);
}

using json = nlohmann::json;

AudioFeatureConfig audio_feature_config_load(const std::string& model_dir) {
  AudioFeatureConfig c;
  const std::string file = model_dir + "/preprocessor_config.json";
  std::ifstream in(file);
  if (!in.good()) return c;
  json j = json::parse(in, nullptr, false);
  OT_REQUIRE(j.is_object(), file, " is not valid JSON");
  try {
    auto num = [&](const char* key, auto& field) {
      if (j.contains(key) && !j[key].is_null()) field = j[key].get<std::remove_reference_t<decltype(field)>>();
    };
    num("feature_size", c.mel_bins);
    num("sampling_rate", c.sample_rate);
    num("frame_length", c.frame_length);
    num("hop_length", c.hop_length);
    num("fft_length", c.fft_length);
    num("preemphasis", c.preemphasis);
    num("min_frequency", c.min_freq);
    num("max_frequency", c.max_freq);
    num("mel_floor", c.mel_floor);
    num("max_length", c.max_samples);
    num("pad_to_multiple_of", c.pad_to_multiple_of);
    for (const char* key : {"per_bin_mean", "per_bin_stddev"})
      OT_REQUIRE(!j.contains(key) || j[key].is_null(), file, ": ", key, " is not supported (set it to null)");
    OT_REQUIRE(j.value("dither", 0.0) == 0.0, file, ": dither is not supported (set it to 0.0)");
    OT_REQUIRE(j.value("input_scale_factor", 1.0) == 1.0, file, ": input_scale_factor is not supported (set it to 1.0)");
  } catch (const json::exception& e) {
    OT_FAIL(file, ": a feature-extractor field has an unexpected type (", e.what(), ")");
  }
  return c;
}

AudioFeatures audio_clip_features(AudioClip clip, const std::string& what, const AudioFeatureConfig& cfg) {
  // Only the samples the extractor keeps are resampled (a long clip costs no more than 30 s).
  const int64_t keep = static_cast<int64_t>(clip.sample_rate) * cfg.max_samples / cfg.sample_rate + clip.sample_rate;
  if (static_cast<int64_t>(clip.samples.size()) > keep) clip.samples.resize(static_cast<size_t>(keep));
  if (clip.sample_rate != cfg.sample_rate) clip = resample(clip, cfg.sample_rate);
  return gemma3n_log_mel(clip, cfg, what);
}

}  // namespace omnitune
