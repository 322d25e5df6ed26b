// Internal to omnitune_media_image: the per-format decoders behind decode_image and the checks
// they share. Callers use media/image_decode.h; this header exists so each codec sits in its own
// file with its own library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "media/image_decode.h"

namespace omnitune {
namespace media_detail {

// libjpeg-turbo (TurboJPEG API); data starts with FF D8 FF.
Image decode_jpeg(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what);

// libspng; data starts with the PNG signature.
Image decode_png(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what);

// Throws the decompression-bomb Error when width * height > max_pixels. Called with the size read
// from the header, before anything of that size is allocated.
void check_pixel_limit(int64_t width, int64_t height, int64_t max_pixels, const std::string& what);

}  // namespace media_detail
}  // namespace omnitune
