// Helpers shared by the media unit tests: file and fixture access, synthetic images, JPEG encoding
// with TurboJPEG (so tests can make JPEGs of any size without Pillow), and pixel-difference stats.
#pragma once

#include "../test_util.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/image.h"

namespace omnitune::media_test {

using test_util::fixture_present;
using test_util::read_bytes;
using test_util::write_bytes;

inline std::string fixture_image(const std::string& name) { return test_util::fixture("images", name); }

// PNG building blocks for crafted files (bit-exact CRC-32 of the chunk type and data).
inline uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

inline void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

// Appends one PNG chunk (length, type, data, CRC) to png.
inline void append_chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, crc32(body.data(), body.size()));
}

// Smooth gradients plus deterministic noise: JPEG-friendly content with some texture.
inline Image synthetic_image(int w, int h, int channels, uint32_t seed = 1) {
  Image img = make_image(w, h, channels);
  uint32_t state = seed;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        state = state * 1664525u + 1013904223u;
        const int noise = static_cast<int>((state >> 24) % 17) - 8;
        const int base = (c == 0)   ? 255 * x / std::max(1, w - 1)
                         : (c == 1) ? 255 * y / std::max(1, h - 1)
                                    : 128 + static_cast<int>(100 * std::sin((x + y) * 0.05));
        img.pixels[(static_cast<size_t>(y) * w + x) * channels + c] =
            static_cast<uint8_t>(std::clamp(base + noise, 0, 255));
      }
    }
  }
  return img;
}

// JPEG bytes of a 1- or 3-channel image via TurboJPEG.
inline std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 90, int subsamp = TJSAMP_420,
                                        int flags = 0) {
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int pf = img.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int rc = tjCompress2(h, img.pixels.data(), img.width, 0, img.height, pf, &buf, &size,
                             img.channels == 1 ? TJSAMP_GRAY : subsamp, quality, flags);
  std::vector<uint8_t> out;
  if (rc == 0) out.assign(buf, buf + size);
  if (rc != 0) ADD_FAILURE() << "tjCompress2: " << tjGetErrorStr2(h);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

// Per-byte comparison of two equally sized buffers.
struct DiffStats {
  size_t count = 0;
  size_t equal = 0;
  int max_abs = 0;
  double sum_abs = 0;
  double mean_abs() const { return count ? sum_abs / count : 0.0; }
  double fraction_equal() const { return count ? static_cast<double>(equal) / count : 1.0; }
  void add(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      const int d = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
      max_abs = std::max(max_abs, d);
      sum_abs += d;
      equal += d == 0;
    }
    count += n;
  }
};

}  // namespace omnitune::media_test
