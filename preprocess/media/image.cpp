// Image helpers: allocation and the lossless gray <-> RGB conversions. They live apart from the
// codecs so the shard writer and the trainer-side tools can use them without libjpeg or libspng.
#include "media/image.h"

#include "core/error.h"

namespace omnitune {

Image make_image(int width, int height, int channels) {
  OT_CHECK(width > 0 && height > 0 && (channels == 1 || channels == 3), width, "x", height, "x",
           channels);
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.assign(static_cast<size_t>(width) * height * channels, 0);
  return img;
}

Image to_rgb(const Image& img) {
  OT_CHECK(img.channels == 1 || img.channels == 3, "channels=", img.channels);
  if (img.channels == 3) return img;
  Image out = make_image(img.width, img.height, 3);
  const uint8_t* src = img.pixels.data();
  uint8_t* dst = out.pixels.data();
  const size_t n = static_cast<size_t>(img.width) * img.height;
  for (size_t i = 0; i < n; ++i) {
    dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
  }
  return out;
}

Image collapse_gray_rgb(Image img) {
  if (img.channels != 3) return img;
  const size_t n = static_cast<size_t>(img.width) * img.height;
  const uint8_t* p = img.pixels.data();
  for (size_t i = 0; i < n; ++i) {
    if (p[3 * i] != p[3 * i + 1] || p[3 * i] != p[3 * i + 2]) return img;
  }
  // Compact in place: pixel i moves from 3i to i, never overtaking an unread source byte.
  uint8_t* q = img.pixels.data();
  for (size_t i = 0; i < n; ++i) q[i] = q[3 * i];
  img.pixels.resize(n);
  img.pixels.shrink_to_fit();
  img.channels = 1;
  return img;
}

}  // namespace omnitune
