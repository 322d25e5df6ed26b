// Pillow-exact bilinear resampling (libImaging/Resample.c, Pillow 9.x): per output pixel the
// triangle-filter weights are computed in double exactly as precompute_coeffs does, normalised,
// turned into 22-bit fixed point, and applied in two separable passes, horizontal then vertical,
// with a uint8 intermediate. Same arithmetic in the same order gives the same bytes. Build with
// -ffp-contract=off so fused multiply-adds cannot change the weights' last bits.
//
// Speed: every output of an axis reads the same number of inputs (zero weights pad the short
// windows), so the kernels are instantiated per tap count and their loops unroll or vectorise,
// and an AVX2 build of the same loops is picked at run time where the CPU has it. Integer sums
// do not depend on the order of their terms, so all of this stays exact.
#include "media/image_resize.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"

namespace omnitune {
namespace {

// Pillow: 8 bits of result, 2 bits of headroom for filters with negative lobes.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
// Vertical windows up to this many taps get an unrolled kernel; wider ones use an accumulator line.
constexpr int kMaxFixedColumnTaps = 6;

// Fixed-point weights of one axis: output i reads inputs first[i] .. first[i] + taps - 1 with
// weights[i * taps ...]. first[i] + taps <= the input size for every i.
struct AxisWeights {
  int taps = 0;
  std::vector<int> first;
  std::vector<int32_t> weights;
};

inline double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's precompute_coeffs (BILINEAR, support 1.0, box = whole input) + normalize_coeffs_8bpc,
// then every window trimmed of zero weights and padded to the common tap count.
AxisWeights compute_weights(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);  // widen the filter only when shrinking
  const double support = 1.0 * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;

  std::vector<int32_t> fixed(static_cast<size_t>(out_size) * ksize, 0);
  std::vector<int> first(out_size), count(out_size);
  std::vector<double> k(ksize);
  int taps = 1;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Pillow rounds with (int)(v + 0.5), which truncates toward zero for negative values.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = triangle((static_cast<double>(x + xmin) - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* q = &fixed[static_cast<size_t>(xx) * ksize];
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      q[x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits)
                                        : 0.5 + w * (1 << kPrecisionBits));
    }
    // Zero weights at either end add nothing to a sum; dropping them shortens the window.
    int lo = 0, hi = xmax;
    while (hi > lo && q[hi - 1] == 0) --hi;
    while (lo < hi && q[lo] == 0) ++lo;
    first[xx] = xmin + lo;
    count[xx] = hi - lo;
    std::copy(q + lo, q + hi, q);
    taps = std::max(taps, count[xx]);
  }

  // Pad each window to `taps` inputs, moving its start left where it would run past the end.
  // taps <= in_size because every window lies inside the input.
  AxisWeights a;
  a.taps = taps;
  a.first.resize(out_size);
  a.weights.assign(static_cast<size_t>(out_size) * taps, 0);
  for (int xx = 0; xx < out_size; ++xx) {
    const int start = std::min(first[xx], in_size - taps);
    a.first[xx] = start;
    const int32_t* q = &fixed[static_cast<size_t>(xx) * ksize];
    std::copy(q, q + count[xx], &a.weights[static_cast<size_t>(xx) * taps + (first[xx] - start)]);
  }
  return a;
}

inline uint8_t clip8(int32_t ss) {
  const int32_t v = ss >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// The kernels are always inlined into two entry points below: one built for the baseline ISA and
// one built for AVX2 (8-lane 32-bit multiplies: the vertical pass runs ~2.5x faster), chosen at
// run time. Both compute the same integer sums, so both give the same bytes.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define OT_RESIZE_HAVE_AVX2 1
#define OT_RESIZE_INLINE inline __attribute__((always_inline))
#else
#define OT_RESIZE_HAVE_AVX2 0
#define OT_RESIZE_INLINE inline
#endif

// Horizontal pass over input rows [row0, row0 + rows): each output pixel is a short dot product
// along its input row. C: channels (1 or 3); T: taps, or 0 for "read a.taps at run time".
template <int C, int T>
OT_RESIZE_INLINE void resample_rows(const uint8_t* src, int src_w, int row0, int rows,
                                    const AxisWeights& a, int out_w, uint8_t* dst) {
  const int taps = T > 0 ? T : a.taps;
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = src + static_cast<size_t>(row0 + y) * src_w * C;
    uint8_t* out = dst + static_cast<size_t>(y) * out_w * C;
    for (int xx = 0; xx < out_w; ++xx) {
      const uint8_t* p = in + static_cast<size_t>(a.first[xx]) * C;
      const int32_t* k = &a.weights[static_cast<size_t>(xx) * taps];
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int t = 0; t < taps; ++t) {
        s0 += p[t * C] * k[t];
        if (C == 3) {
          s1 += p[t * C + 1] * k[t];
          s2 += p[t * C + 2] * k[t];
        }
      }
      out[xx * C] = clip8(s0);
      if (C == 3) {
        out[xx * C + 1] = clip8(s1);
        out[xx * C + 2] = clip8(s2);
      }
    }
  }
}

template <int C>
OT_RESIZE_INLINE void resample_rows_any(const uint8_t* src, int src_w, int row0, int rows,
                                        const AxisWeights& a, int out_w, uint8_t* dst) {
  switch (a.taps) {
    case 1: return resample_rows<C, 1>(src, src_w, row0, rows, a, out_w, dst);
    case 2: return resample_rows<C, 2>(src, src_w, row0, rows, a, out_w, dst);
    case 3: return resample_rows<C, 3>(src, src_w, row0, rows, a, out_w, dst);
    case 4: return resample_rows<C, 4>(src, src_w, row0, rows, a, out_w, dst);
    case 5: return resample_rows<C, 5>(src, src_w, row0, rows, a, out_w, dst);
    case 6: return resample_rows<C, 6>(src, src_w, row0, rows, a, out_w, dst);
    case 7: return resample_rows<C, 7>(src, src_w, row0, rows, a, out_w, dst);
    case 8: return resample_rows<C, 8>(src, src_w, row0, rows, a, out_w, dst);
    default: return resample_rows<C, 0>(src, src_w, row0, rows, a, out_w, dst);
  }
}

// Vertical pass, T taps known at compile time: each output row is one contiguous loop over the
// row's values reading T input rows, which the compiler vectorises.
template <int T>
OT_RESIZE_INLINE void resample_columns_fixed(const uint8_t* src, size_t row_len, const AxisWeights& a,
                                             int row_offset, int out_h, uint8_t* dst) {
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &a.weights[static_cast<size_t>(yy) * T];
    const uint8_t* in = src + static_cast<size_t>(a.first[yy] - row_offset) * row_len;
    int32_t kt[T];
    for (int t = 0; t < T; ++t) kt[t] = k[t];
    uint8_t* __restrict out = dst + static_cast<size_t>(yy) * row_len;
    for (size_t i = 0; i < row_len; ++i) {
      int32_t s = kHalf;
      for (int t = 0; t < T; ++t) s += in[t * row_len + i] * kt[t];
      out[i] = clip8(s);
    }
  }
}

// Vertical pass for wide windows (strong downscaling): accumulate input rows one at a time into
// an int32 line (`acc`, row_len long), again a contiguous multiply-add per row.
OT_RESIZE_INLINE void resample_columns_wide(const uint8_t* src, size_t row_len, const AxisWeights& a,
                                            int row_offset, int out_h, uint8_t* dst,
                                            int32_t* __restrict acc) {
  for (int yy = 0; yy < out_h; ++yy) {
    for (size_t i = 0; i < row_len; ++i) acc[i] = kHalf;
    const int32_t* k = &a.weights[static_cast<size_t>(yy) * a.taps];
    for (int t = 0; t < a.taps; ++t) {
      const uint8_t* in = src + static_cast<size_t>(a.first[yy] - row_offset + t) * row_len;
      const int32_t kt = k[t];
      if (kt == 0) continue;
      for (size_t i = 0; i < row_len; ++i) acc[i] += in[i] * kt;
    }
    uint8_t* out = dst + static_cast<size_t>(yy) * row_len;
    for (size_t i = 0; i < row_len; ++i) out[i] = clip8(acc[i]);
  }
}

// Everything one resize does after the weights are known; buffers are allocated by the caller.
struct ResizeJob {
  const uint8_t* src;
  int src_w, channels;
  bool horizontal, vertical;
  const AxisWeights* wx;
  const AxisWeights* wy;
  int row0, mid_rows;  // input rows the vertical pass needs
  uint8_t* mid;        // horizontal result: out_w x mid_rows
  int out_w, out_h;
  uint8_t* out;        // final result (the horizontal one goes to `mid` only if vertical follows)
  int32_t* acc;        // row_len int32 scratch for wide vertical windows
};

OT_RESIZE_INLINE void run_job(const ResizeJob& j) {
  const uint8_t* vin = j.src;
  int vin_w = j.src_w, vin_row0 = 0;
  if (j.horizontal) {
    uint8_t* dst = j.vertical ? j.mid : j.out;
    if (j.channels == 1) {
      resample_rows_any<1>(j.src, j.src_w, j.row0, j.mid_rows, *j.wx, j.out_w, dst);
    } else {
      resample_rows_any<3>(j.src, j.src_w, j.row0, j.mid_rows, *j.wx, j.out_w, dst);
    }
    if (!j.vertical) return;
    vin = j.mid;
    vin_w = j.out_w;
    vin_row0 = j.row0;
  }
  const size_t row_len = static_cast<size_t>(vin_w) * j.channels;
  const AxisWeights& wy = *j.wy;
  static_assert(kMaxFixedColumnTaps == 6, "one fixed-tap case per count up to the maximum");
  switch (wy.taps) {
    case 1: return resample_columns_fixed<1>(vin, row_len, wy, vin_row0, j.out_h, j.out);
    case 2: return resample_columns_fixed<2>(vin, row_len, wy, vin_row0, j.out_h, j.out);
    case 3: return resample_columns_fixed<3>(vin, row_len, wy, vin_row0, j.out_h, j.out);
    case 4: return resample_columns_fixed<4>(vin, row_len, wy, vin_row0, j.out_h, j.out);
    case 5: return resample_columns_fixed<5>(vin, row_len, wy, vin_row0, j.out_h, j.out);
    case 6: return resample_columns_fixed<6>(vin, row_len, wy, vin_row0, j.out_h, j.out);
    default: return resample_columns_wide(vin, row_len, wy, vin_row0, j.out_h, j.out, j.acc);
  }
}

void run_job_portable(const ResizeJob& j) { run_job(j); }

#if OT_RESIZE_HAVE_AVX2
__attribute__((target("avx2"))) void run_job_avx2(const ResizeJob& j) { run_job(j); }

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

std::atomic<bool> g_avx2_allowed{true};

}  // namespace

Image resize_bilinear(const Image& src, int out_w, int out_h) {
  OT_CHECK(src.channels == 1 || src.channels == 3, "channels=", src.channels);
  OT_CHECK(src.width > 0 && src.height > 0 &&
               src.pixels.size() == static_cast<size_t>(src.width) * src.height * src.channels,
           src.width, "x", src.height, "x", src.channels, " with ", src.pixels.size(), " bytes");
  OT_REQUIRE(out_w > 0 && out_h > 0, "image resize: the target size must be positive, got ", out_w,
             "x", out_h, "; check the image size in the model's preprocessor config");
  const int c = src.channels;
  ResizeJob job{};
  job.src = src.pixels.data();
  job.src_w = src.width;
  job.channels = c;
  job.horizontal = out_w != src.width;
  job.vertical = out_h != src.height;
  job.out_w = out_w;
  job.out_h = out_h;
  if (!job.horizontal && !job.vertical) return src;

  // Rows the vertical pass reads; the horizontal pass only produces those (as Pillow does).
  AxisWeights wx, wy;
  job.row0 = 0;
  job.mid_rows = src.height;
  std::vector<int32_t> acc;
  if (job.vertical) {
    wy = compute_weights(src.height, out_h);
    job.row0 = *std::min_element(wy.first.begin(), wy.first.end());
    job.mid_rows = *std::max_element(wy.first.begin(), wy.first.end()) + wy.taps - job.row0;
    if (wy.taps > kMaxFixedColumnTaps) acc.resize(static_cast<size_t>(out_w) * c);
  }
  if (job.horizontal) wx = compute_weights(src.width, out_w);
  std::vector<uint8_t> mid;
  if (job.horizontal && job.vertical) mid.resize(static_cast<size_t>(out_w) * job.mid_rows * c);
  job.wx = &wx;
  job.wy = &wy;
  job.mid = mid.data();
  job.acc = acc.data();

  Image out = make_image(out_w, out_h, c);
  job.out = out.pixels.data();
#if OT_RESIZE_HAVE_AVX2
  if (g_avx2_allowed.load(std::memory_order_relaxed) && cpu_has_avx2()) {
    run_job_avx2(job);
    return out;
  }
#endif
  run_job_portable(job);
  return out;
}

namespace media_detail {

void set_resize_avx2_allowed(bool allowed) { g_avx2_allowed.store(allowed); }

}  // namespace media_detail

}  // namespace omnitune
