// PNG (libspng) and JPEG (TurboJPEG) encoding of an Image (gray or RGB, 8-bit): for writing sample
// datasets and for `omnitune-inspect SHARDS`, which writes a stored image back out to look at.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "media/image.h"

namespace omnitune {

// PNG bytes of img (1 or 3 channels). Errors name `what`.
std::vector<uint8_t> encode_png(const Image& img, const std::string& what = "image");

// Writes encode_png(img) to path (Error naming the path on failure).
void write_png_file(const Image& img, const std::string& path);

// Baseline JPEG bytes (TurboJPEG; 4:2:0 for RGB) at `quality` 1..100.
std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 90, const std::string& what = "image");

}  // namespace omnitune
