// PNG encoding of an Image (gray or RGB, 8-bit) with libspng: for writing sample datasets and for
// `omnitune-inspect SHARDS`, which writes a stored image back out so a person can look at it.
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

}  // namespace omnitune
