// Image decoding for the LibTorch-free preprocessor: JPEG (libjpeg-turbo) and PNG (libspng) bytes
// to an 8-bit Image that matches what the Hugging Face reference gets from Pillow (open, EXIF
// transpose, convert("RGB")). The format is sniffed from the bytes, never from a file name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "media/image.h"

namespace omnitune {

struct DecodeOptions {
  // Decompression-bomb limit on width * height, checked from the header before any pixel buffer
  // is allocated. 178956970 = 2 * Pillow's MAX_IMAGE_PIXELS (1024 * 1024 * 1024 // 4 // 3), the
  // size at which Pillow refuses to open an image (DecompressionBombError). Config key:
  // preprocess.max_image_pixels.
  int64_t max_pixels = 178956970;
  // When > 0, a JPEG may be decoded with libjpeg-turbo's DCT scaling at 1/2, 1/4 or 1/8, the
  // smallest of those whose output is still >= target_w x target_h (in the orientation after EXIF
  // transpose); never below the target and never enlarged. Saves decode and resize time before a
  // strong downscale, but the pixels then differ from Pillow's full-size decode: leave 0 for
  // parity. PNG ignores it.
  int target_w = 0;
  int target_h = 0;
  // Gray sources (gray JPEG, gray or gray+alpha PNG at any bit depth, palette PNG whose palette is
  // all gray) decode to 1 channel; false widens them to RGB like to_rgb.
  bool keep_gray = true;
  // With keep_gray: colour images whose pixels all have R = G = B (MedPix-VQA's PNGs) also come
  // back with 1 channel, exactly what collapse_gray_rgb makes of them. 8-bit RGB PNGs find this out
  // before unfiltering and then unfilter one channel instead of three.
  bool collapse_gray_rgb = false;
};

enum class ImageFormat { Jpeg, Png, Unknown };

// The container format from magic bytes (JPEG: FF D8 FF; PNG: the 8-byte PNG signature).
ImageFormat sniff_image_format(const uint8_t* data, size_t n);

// Decodes JPEG or PNG bytes; EXIF orientation (JPEG APP1, PNG eXIf) is applied. `what` names the
// image in error messages ("row 17 image", a path). Throws omnitune::Error for empty, truncated,
// corrupt, unsupported or oversized input.
Image decode_image(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what);

// Reads the whole file and decodes it; errors name the path.
Image decode_image_file(const std::string& path, const DecodeOptions& opt);

}  // namespace omnitune
