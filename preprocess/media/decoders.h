// Internal to omnitune_media_image: the per-format decoders behind decode_image and the checks
// they share. Callers use media/image_decode.h; this header exists so each codec sits in its own
// file with its own library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "media/image_decode.h"

namespace omnitune {
namespace media_detail {

// libjpeg-turbo (TurboJPEG API); data starts with FF D8 FF.
Image decode_jpeg(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what);

// libspng; data starts with the PNG signature.
Image decode_png(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what);

// The fast PNG path (png_fast.cpp, libdeflate): what png_fast_parse read from a file it can take.
struct PngFastLayout {
  uint32_t width = 0, height = 0;
  uint8_t bit_depth = 0, color_type = 0;
  int channels = 0;                                           // samples per pixel (1-4)
  std::vector<uint8_t> palette;                               // PLTE: RGB triplets
  std::vector<std::pair<const uint8_t*, size_t>> idat;        // IDAT bodies, in file order
  std::pair<const uint8_t*, size_t> exif{nullptr, 0};         // eXIf body, if any
};

// True when the file is an 8-bit, non-interlaced PNG with valid CRCs and a plain chunk layout;
// false (nothing thrown) for anything else, which the libspng path then decodes or rejects.
bool png_fast_parse(const uint8_t* data, size_t n, PngFastLayout* out);

// Inflates the pixel data into a per-thread buffer of height * (1 + row bytes) filtered rows;
// nullptr when it is corrupt or of the wrong size (the caller falls back to libspng).
const uint8_t* png_fast_inflate(const PngFastLayout& png);

// Unfilters the rows into dst (rows of width * channels bytes, `stride` apart). False on a bad
// filter type byte.
bool png_fast_unfilter(const PngFastLayout& png, const uint8_t* filtered, uint8_t* dst, size_t stride);

// 8-bit RGB only: when every pixel has R = G = B, writes the 1-channel image (width bytes per row)
// to dst and returns true, at about a third of the unfiltering work; false otherwise (dst is then
// partly written and must be decoded again with png_fast_unfilter).
bool png_fast_unfilter_gray_rgb(const PngFastLayout& png, const uint8_t* filtered, uint8_t* dst);

// Throws the decompression-bomb Error when width * height > max_pixels. Called with the size read
// from the header, before anything of that size is allocated.
void check_pixel_limit(int64_t width, int64_t height, int64_t max_pixels, const std::string& what);

}  // namespace media_detail
}  // namespace omnitune
