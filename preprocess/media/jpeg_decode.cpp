// JPEG decoding with libjpeg-turbo's TurboJPEG 2.x API (Debian 12: 2.1.5). Debian's Pillow links
// the same library with the same defaults (accurate integer IDCT, fancy upsampling), so a
// full-size decode matches Pillow's; CMYK is converted with Pillow's own formula for the same reason.
#include <turbojpeg.h>

#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "media/decoders.h"
#include "media/exif.h"

namespace omnitune {
namespace media_detail {
namespace {

struct TjDecompressor {
  tjhandle h = tjInitDecompress();
  ~TjDecompressor() {
    if (h != nullptr) tjDestroy(h);
  }
};

// Pillow reads every CMYK JPEG as Adobe-inverted ("CMYK;I": ink = 255 - stored value) and converts
// with cmyk2rgb: R = (255 - K) - (C * (255 - K)) / 255 with its rounding division by 255.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

void inverted_cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, size_t pixels) {
  for (size_t i = 0; i < pixels; ++i) {
    const int not_k = cmyk[4 * i + 3];  // stored inverted, so this is 255 - K
    for (int c = 0; c < 3; ++c) {
      const int ink = 255 - cmyk[4 * i + c];
      rgb[3 * i + c] = static_cast<uint8_t>(not_k - muldiv255(ink, not_k));
    }
  }
}

// The smallest DCT scale whose output still covers target_w x target_h; 1/1 without targets.
// Only 1/2, 1/4 and 1/8 are considered: libjpeg-turbo has SIMD code for those, while its other
// scales (7/8 ... 3/8) run plain C and measured slower than a full-size decode (2048x1536 q90,
// one core: 1/1 13.3 ms, 7/8 19.6 ms, 3/4 15.7 ms, 5/8 14.1 ms, 1/2 10.5 ms, 1/4 9.7 ms).
tjscalingfactor choose_scale(int width, int height, int target_w, int target_h) {
  tjscalingfactor best = {1, 1};
  if (target_w <= 0 && target_h <= 0) return best;
  int count = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&count);
  if (factors == nullptr) return best;
  int64_t best_pixels = static_cast<int64_t>(width) * height;
  for (int i = 0; i < count; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num != 1 || f.denom == 1) continue;  // 1/2, 1/4, 1/8 only (see above)
    const int sw = TJSCALED(width, f), sh = TJSCALED(height, f);
    if (sw < target_w || sh < target_h) continue;
    const int64_t pixels = static_cast<int64_t>(sw) * sh;
    if (pixels < best_pixels) {
      best = f;
      best_pixels = pixels;
    }
  }
  return best;
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what) {
  TjDecompressor tj;
  OT_CHECK(tj.h != nullptr, "tjInitDecompress: ", tjGetErrorStr2(nullptr));
  // TurboJPEG takes a non-const buffer and an unsigned long size but does not modify the data.
  unsigned char* buf = const_cast<unsigned char*>(data);
  const unsigned long size = static_cast<unsigned long>(n);

  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.h, buf, size, &width, &height, &subsamp, &colorspace) != 0) {
    OT_FAIL(what, ": cannot read the JPEG header (libjpeg-turbo: ", tjGetErrorStr2(tj.h),
            "); the file is truncated or not a valid JPEG: re-export or re-download it");
  }
  // A stream that ends before its frame header "succeeds" with a 0x0 size (tables-only JPEG).
  OT_REQUIRE(width > 0 && height > 0, what,
             ": the JPEG has no image frame (truncated after ", n,
             " bytes?); re-export or re-download the image");
  check_pixel_limit(width, height, opt.max_pixels, what);

  const int orientation = jpeg_exif_orientation(data, n);
  int target_w = opt.target_w, target_h = opt.target_h;
  if (orientation_swaps_axes(orientation)) std::swap(target_w, target_h);
  const tjscalingfactor scale = choose_scale(width, height, target_w, target_h);
  const int out_w = TJSCALED(width, scale), out_h = TJSCALED(height, scale);

  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const bool gray = colorspace == TJCS_GRAY && opt.keep_gray;
  const int pixel_format = cmyk ? TJPF_CMYK : gray ? TJPF_GRAY : TJPF_RGB;
  Image img = make_image(out_w, out_h, gray ? 1 : 3);
  std::vector<uint8_t> cmyk_pixels;
  uint8_t* dst = img.pixels.data();
  if (cmyk) {
    cmyk_pixels.resize(static_cast<size_t>(out_w) * out_h * 4);
    dst = cmyk_pixels.data();
  }

  // LIMITSCANS rejects progressive files with hundreds of scans, a known CPU-exhaustion attack.
  if (tjDecompress2(tj.h, buf, size, dst, out_w, 0, out_h, pixel_format, TJFLAG_LIMITSCANS) != 0) {
    const std::string msg = tjGetErrorStr2(tj.h);
    // Warnings (e.g. "Corrupt JPEG data: N extraneous bytes") leave a complete image, and Pillow
    // accepts such files too; a premature end means missing pixels, so that one is an error.
    const bool warning = tjGetErrorCode(tj.h) == TJERR_WARNING;
    if (!warning || msg.find("Premature end") != std::string::npos) {
      OT_FAIL(what, ": JPEG data is corrupt or truncated (libjpeg-turbo: ", msg,
              "); re-export or re-download the image");
    }
  }
  if (cmyk) inverted_cmyk_to_rgb(cmyk_pixels.data(), img.pixels.data(), img.pixels.size() / 3);
  return apply_exif_orientation(std::move(img), orientation);
}

}  // namespace media_detail
}  // namespace omnitune
