// Image: the decoded-pixel type shared by decoding, orientation and resizing. It is a plain
// interleaved HWC uint8 buffer so shards can store it as is and the resize loops stay simple;
// gray images keep one channel (a third of the bytes) and are widened only when a model needs RGB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace omnitune {

struct Image {
  int width = 0;                // pixels per row, > 0 once decoded
  int height = 0;               // rows, > 0 once decoded
  int channels = 0;             // 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;  // width * height * channels bytes, row-major, channels interleaved
};

// An image of the given shape with every byte zero.
Image make_image(int width, int height, int channels);

// RGB copy of a 1- or 3-channel image. Gray values are replicated into R, G and B, exactly what
// Pillow's convert("RGB") does for mode L; a 3-channel image is returned unchanged.
Image to_rgb(const Image& img);

// If every pixel of a 3-channel image has R == G == B, returns the 1-channel image holding that
// value (lossless: to_rgb gives back the same bytes); otherwise returns the image unchanged.
// Real MedPix PNGs are RGB files with R == G == B on every pixel, so this saves two thirds of the
// shard bytes for them.
Image collapse_gray_rgb(Image img);

}  // namespace omnitune
