// EXIF orientation: the tag is found in both byte orders and behind other tags, malformed or
// truncated metadata never reads out of bounds (every cut and thousands of corruptions are
// parsed), and each orientation transposes pixels exactly as Pillow's Transpose methods do
// (expected arrays computed with Pillow 9.4 on a 3x2 image holding 1..6).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "media/exif.h"

namespace omnitune {
namespace {

// IFD0 with a Make tag (stored out of line) and then Orientation, in either byte order.
std::vector<uint8_t> tiff_block(uint32_t orientation, bool big_endian, uint16_t type = 3,
                                uint32_t count = 1) {
  std::vector<uint8_t> b;
  auto u16 = [&](uint32_t v) {
    if (big_endian) {
      b.push_back(static_cast<uint8_t>(v >> 8));
      b.push_back(static_cast<uint8_t>(v));
    } else {
      b.push_back(static_cast<uint8_t>(v));
      b.push_back(static_cast<uint8_t>(v >> 8));
    }
  };
  auto u32 = [&](uint32_t v) {
    if (big_endian) {
      u16(v >> 16);
      u16(v & 0xFFFF);
    } else {
      u16(v & 0xFFFF);
      u16(v >> 16);
    }
  };
  const char* header = big_endian ? "MM" : "II";
  b.insert(b.end(), header, header + 2);
  u16(42);
  u32(8);
  u16(2);                                  // two entries
  u16(0x010F), u16(2), u32(9), u32(38);    // Make, ASCII, 9 bytes at offset 38
  u16(0x0112), u16(type), u32(count);      // Orientation
  if (type == 3) {
    u16(orientation), u16(0);
  } else {
    u32(orientation);
  }
  u32(0);  // no next IFD
  const char make[] = "omnitune";
  b.insert(b.end(), make, make + 9);
  return b;
}

// A JPEG header: SOI, APP0 (JFIF), the given segments, then SOS with a little scan data.
std::vector<uint8_t> jpeg_with_segments(const std::vector<std::vector<uint8_t>>& app1s) {
  std::vector<uint8_t> j = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0,
                            0,    1,    0,    1,    0,    0};
  for (const auto& payload : app1s) {
    const size_t len = payload.size() + 2;
    j.insert(j.end(), {0xFF, 0xE1, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)});
    j.insert(j.end(), payload.begin(), payload.end());
  }
  j.insert(j.end(), {0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0xD9});
  return j;
}

std::vector<uint8_t> exif_payload(const std::vector<uint8_t>& tiff) {
  std::vector<uint8_t> p = {'E', 'x', 'i', 'f', 0, 0};
  p.insert(p.end(), tiff.begin(), tiff.end());
  return p;
}

TEST(ExifOrientation, ReadsEveryValueInBothByteOrders) {
  for (uint32_t o = 1; o <= 8; ++o) {
    for (bool be : {false, true}) {
      const auto t = tiff_block(o, be);
      EXPECT_EQ(exif_orientation_from_tiff(t.data(), t.size()), static_cast<int>(o))
          << o << (be ? " MM" : " II");
      const auto l = tiff_block(o, be, /*type=*/4);  // LONG instead of SHORT
      EXPECT_EQ(exif_orientation_from_tiff(l.data(), l.size()), static_cast<int>(o));
    }
  }
}

TEST(ExifOrientation, InvalidValuesMeanNoOrientation) {
  for (uint32_t bad : {0u, 9u, 255u, 65535u}) {
    const auto t = tiff_block(bad, false);
    EXPECT_EQ(exif_orientation_from_tiff(t.data(), t.size()), 1) << bad;
  }
  const auto two = tiff_block(6, true, 3, /*count=*/2);
  EXPECT_EQ(exif_orientation_from_tiff(two.data(), two.size()), 1);
  const auto ascii = tiff_block(6, true, /*type=*/2);
  EXPECT_EQ(exif_orientation_from_tiff(ascii.data(), ascii.size()), 1);
  auto not_tiff = tiff_block(6, false);
  not_tiff[2] = 43;  // wrong magic number
  EXPECT_EQ(exif_orientation_from_tiff(not_tiff.data(), not_tiff.size()), 1);
  EXPECT_EQ(exif_orientation_from_tiff(nullptr, 0), 1);
}

TEST(ExifOrientation, EveryTruncationIsSafe) {
  for (bool be : {false, true}) {
    const auto t = tiff_block(6, be);
    for (size_t n = 0; n <= t.size(); ++n) {
      // Copy into an exactly sized heap buffer so a sanitizer would see any overread.
      std::vector<uint8_t> part(t.begin(), t.begin() + static_cast<long>(n));
      const int o = exif_orientation_from_tiff(part.data(), part.size());
      EXPECT_TRUE(o == 1 || o == 6) << n;
      if (n >= 34) {
        EXPECT_EQ(o, 6) << n;  // the Orientation entry ends at byte 34
      }
    }
  }
}

TEST(ExifOrientation, CorruptedBlocksAlwaysGiveAValidOrientation) {
  uint32_t state = 12345;
  auto next = [&]() { return state = state * 1103515245u + 12345u; };
  for (int iter = 0; iter < 20000; ++iter) {
    auto t = tiff_block(1 + next() % 8, next() % 2);
    const int flips = 1 + next() % 4;
    for (int f = 0; f < flips; ++f) t[next() % t.size()] = static_cast<uint8_t>(next() >> 16);
    t.resize(next() % (t.size() + 1));
    const int o = exif_orientation_from_tiff(t.data(), t.size());
    ASSERT_GE(o, 1);
    ASSERT_LE(o, 8);
  }
}

TEST(ExifJpeg, FindsTheFirstExifSegmentBeforeTheScan) {
  const auto xmp = std::vector<uint8_t>{'h', 't', 't', 'p', ':', '/', '/', 'n', 's', 0};
  const auto j = jpeg_with_segments({xmp, exif_payload(tiff_block(6, true)),
                                     exif_payload(tiff_block(3, false))});
  EXPECT_EQ(jpeg_exif_orientation(j.data(), j.size()), 6);
  const auto none = jpeg_with_segments({xmp});
  EXPECT_EQ(jpeg_exif_orientation(none.data(), none.size()), 1);
}

TEST(ExifJpeg, MalformedHeadersAreSafe) {
  const auto j = jpeg_with_segments({exif_payload(tiff_block(8, false))});
  for (size_t n = 0; n <= j.size(); ++n) {
    std::vector<uint8_t> part(j.begin(), j.begin() + static_cast<long>(n));
    const int o = jpeg_exif_orientation(part.data(), part.size());
    EXPECT_TRUE(o == 1 || o == 8) << n;
  }
  auto bad_len = j;
  bad_len[4] = 0xFF;  // APP0 length far past the end
  EXPECT_EQ(jpeg_exif_orientation(bad_len.data(), bad_len.size()), 1);
  auto short_len = j;
  short_len[5] = 1;  // APP0 length 1 (< 2) is invalid
  short_len[4] = 0;
  EXPECT_EQ(jpeg_exif_orientation(short_len.data(), short_len.size()), 1);
}

TEST(ExifTranspose, MatchesPillowTransposeForEachOrientation) {
  Image img = make_image(3, 2, 1);
  img.pixels = {1, 2, 3, 4, 5, 6};
  struct Case {
    int orientation, w, h;
    std::vector<uint8_t> pixels;
  };
  const Case cases[] = {
      {1, 3, 2, {1, 2, 3, 4, 5, 6}}, {2, 3, 2, {3, 2, 1, 6, 5, 4}}, {3, 3, 2, {6, 5, 4, 3, 2, 1}},
      {4, 3, 2, {4, 5, 6, 1, 2, 3}}, {5, 2, 3, {1, 4, 2, 5, 3, 6}}, {6, 2, 3, {4, 1, 5, 2, 6, 3}},
      {7, 2, 3, {6, 3, 5, 2, 4, 1}}, {8, 2, 3, {3, 6, 2, 5, 1, 4}},
  };
  for (const Case& c : cases) {
    const Image out = apply_exif_orientation(img, c.orientation);
    EXPECT_EQ(out.width, c.w) << c.orientation;
    EXPECT_EQ(out.height, c.h) << c.orientation;
    EXPECT_EQ(out.pixels, c.pixels) << c.orientation;

    // The same mapping applies to each channel of an RGB image.
    Image rgb = to_rgb(img);
    for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] += static_cast<uint8_t>(10 * (i % 3));
    const Image out_rgb = apply_exif_orientation(rgb, c.orientation);
    for (size_t i = 0; i < c.pixels.size(); ++i) {
      for (int k = 0; k < 3; ++k) {
        EXPECT_EQ(out_rgb.pixels[3 * i + k], c.pixels[i] + 10 * k) << c.orientation;
      }
    }
  }
}

}  // namespace
}  // namespace omnitune
