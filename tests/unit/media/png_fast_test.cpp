// The fast PNG path (preprocess/media/png_fast.cpp): crafted 8-bit files of every colour type, with
// every filter type on every row position, split over several IDAT chunks, decode to the pixels
// they were made from; files the fast path must not take (16-bit, interlaced, bad CRC, bad filter
// byte, short pixel data) are left to libspng, whose errors stay the ones users see.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "media/decoders.h"
#include "media/image_decode.h"
#include "media_test_util.h"

namespace omnitune {
namespace {

using media_test::append_chunk;
using media_test::put_be32;

int channels_of(int color_type) { return color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 1; }

uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : (pb <= pc ? b : c));
}

struct Crafted {
  int width = 0, height = 0, color_type = 0;
  std::vector<uint8_t> samples;  // height rows of width * channels bytes
  std::vector<uint8_t> palette;  // RGB triplets (color type 3)
};

// Deterministic samples; palette indices stay below the palette size.
Crafted crafted(int width, int height, int color_type, uint32_t seed) {
  Crafted c{width, height, color_type, {}, {}};
  const int ch = channels_of(color_type);
  uint32_t s = seed;
  auto next = [&] { return s = s * 1664525u + 1013904223u; };
  if (color_type == 3) {
    for (int i = 0; i < 40 * 3; ++i) c.palette.push_back(static_cast<uint8_t>(next() >> 24));
  }
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width * ch; ++x) {
      // Smooth ramps with a little noise, and every third row pure noise: Paeth then picks each
      // predictor and meets its ties (pa == pb, pb == pc) with distinct candidates.
      const uint32_t v = y % 3 == 2 ? next() >> 24 : static_cast<uint32_t>(x * 3 + y * 5) + (next() >> 28);
      c.samples.push_back(static_cast<uint8_t>(color_type == 3 ? v % 40 : v));
    }
  }
  return c;
}

// Filter type of row y: all five in turn, starting at `shift`, so row 0 (no previous row) sees each.
std::vector<uint8_t> filtered_rows(const Crafted& c, int shift) {
  const int bpp = channels_of(c.color_type);
  const size_t row_bytes = static_cast<size_t>(c.width) * bpp;
  std::vector<uint8_t> out;
  for (int y = 0; y < c.height; ++y) {
    const uint8_t kind = static_cast<uint8_t>((y + shift) % 5);
    const uint8_t* row = &c.samples[y * row_bytes];
    const uint8_t* prev = y > 0 ? row - row_bytes : nullptr;
    out.push_back(kind);
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= static_cast<size_t>(bpp) ? row[i - bpp] : 0;
      const int b = prev != nullptr ? prev[i] : 0;
      const int cc = prev != nullptr && i >= static_cast<size_t>(bpp) ? prev[i - bpp] : 0;
      const int pred = kind == 0 ? 0 : kind == 1 ? a : kind == 2 ? b : kind == 3 ? (a + b) / 2 : paeth(a, b, cc);
      out.push_back(static_cast<uint8_t>(row[i] - pred));
    }
  }
  return out;
}

std::vector<uint8_t> zlib_compress(const std::vector<uint8_t>& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(size);
  EXPECT_EQ(compress2(z.data(), &size, raw.data(), static_cast<uLong>(raw.size()), 6), Z_OK);
  z.resize(size);
  return z;
}

// A PNG of `c` with the zlib stream split over `idat_parts` IDAT chunks; rows_override replaces
// the filtered rows (damaged or other-depth pixel data).
std::vector<uint8_t> encode(const Crafted& c, int shift, int idat_parts, int bit_depth = 8,
                            const std::vector<uint8_t>* rows_override = nullptr) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, static_cast<uint32_t>(c.width));
  put_be32(ihdr, static_cast<uint32_t>(c.height));
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(c.color_type), 0, 0, 0});
  append_chunk(png, "IHDR", ihdr);
  append_chunk(png, "tEXt", {'C', 'o', 'm', 'm', 'e', 'n', 't', 0, 'x'});
  if (c.color_type == 3) append_chunk(png, "PLTE", c.palette);
  const std::vector<uint8_t> z = zlib_compress(rows_override != nullptr ? *rows_override : filtered_rows(c, shift));
  for (int p = 0; p < idat_parts; ++p) {
    const size_t a = z.size() * p / idat_parts, b = z.size() * (p + 1) / idat_parts;
    append_chunk(png, "IDAT", std::vector<uint8_t>(z.begin() + static_cast<long>(a), z.begin() + static_cast<long>(b)));
  }
  append_chunk(png, "IEND", {});
  return png;
}

// What decode_image must return for `c` (Pillow's convert("RGB") rules; gray kept gray).
Image expected(const Crafted& c) {
  const bool gray = c.color_type == 0 || c.color_type == 4;
  Image img = make_image(c.width, c.height, gray ? 1 : 3);
  const int ch = channels_of(c.color_type);
  for (size_t px = 0; px < static_cast<size_t>(c.width) * c.height; ++px) {
    const uint8_t* in = &c.samples[px * ch];
    uint8_t* out = &img.pixels[px * img.channels];
    if (c.color_type == 3) {
      for (int k = 0; k < 3; ++k) out[k] = c.palette[3 * in[0] + k];
    } else {
      for (int k = 0; k < img.channels; ++k) out[k] = in[k];  // alpha (last channel) dropped
    }
  }
  return img;
}

std::string decode_error(const std::vector<uint8_t>& png) {
  try {
    decode_image(png.data(), png.size(), {}, "crafted.png");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PngFast, EveryColourTypeAndFilterDecodesToTheSourcePixels) {
  for (int color_type : {0, 2, 3, 4, 6}) {
    for (int shift = 0; shift < 5; ++shift) {
      for (int parts : {1, 3}) {
        const Crafted c = crafted(37 + shift, 23, color_type, static_cast<uint32_t>(color_type * 10 + shift));
        const std::vector<uint8_t> png = encode(c, shift, parts);
        SCOPED_TRACE("color type " + std::to_string(color_type) + ", first filter " + std::to_string(shift) +
                     ", " + std::to_string(parts) + " IDAT chunk(s)");
        media_detail::PngFastLayout layout;
        ASSERT_TRUE(media_detail::png_fast_parse(png.data(), png.size(), &layout));
        EXPECT_EQ(layout.idat.size(), static_cast<size_t>(parts));
        const Image want = expected(c);
        const Image got = decode_image(png.data(), png.size(), {}, "crafted.png");
        ASSERT_EQ(got.channels, want.channels);
        ASSERT_EQ(got.width, want.width);
        EXPECT_TRUE(got.pixels == want.pixels);
      }
    }
  }
}

TEST(PngFast, OtherLayoutsAndDamageAreLeftToLibspng) {
  const Crafted c = crafted(16, 8, 2, 7);
  media_detail::PngFastLayout layout;
  // 16-bit samples: a valid file the fast path does not take. 8x8 RGB, every sample 0x4040.
  Crafted wide = c;
  wide.width = 8;
  std::vector<uint8_t> rows;
  for (int y = 0; y < 8; ++y) {
    rows.push_back(0);  // filter None
    rows.insert(rows.end(), 8 * 6, 0x40);
  }
  const std::vector<uint8_t> png16 = encode(wide, 0, 1, 16, &rows);
  EXPECT_FALSE(media_detail::png_fast_parse(png16.data(), png16.size(), &layout));
  const Image img16 = decode_image(png16.data(), png16.size(), {}, "wide.png");  // libspng decodes it
  EXPECT_EQ(img16.pixels[0], 0x40);

  // A damaged chunk CRC.
  std::vector<uint8_t> bad_crc = encode(c, 0, 1);
  bad_crc[8 + 8 + 13 + 4 - 1] ^= 0xFF;  // last byte of IHDR's CRC
  EXPECT_FALSE(media_detail::png_fast_parse(bad_crc.data(), bad_crc.size(), &layout));
  EXPECT_NE(decode_error(bad_crc).find("crafted.png"), std::string::npos);

  // A filter type byte of 5: parse succeeds, the pixels fail, libspng names the damage.
  std::vector<uint8_t> bad_rows = filtered_rows(c, 0);
  bad_rows[(16 * 3 + 1) * 3] = 5;
  const std::vector<uint8_t> bad_filter = encode(c, 0, 1, 8, &bad_rows);
  ASSERT_TRUE(media_detail::png_fast_parse(bad_filter.data(), bad_filter.size(), &layout));
  std::vector<uint8_t> scratch(16 * 3 * 8);
  const uint8_t* filtered = media_detail::png_fast_inflate(layout);
  ASSERT_NE(filtered, nullptr);
  EXPECT_FALSE(media_detail::png_fast_unfilter(layout, filtered, scratch.data(), 16 * 3));
  EXPECT_NE(decode_error(bad_filter).find("crafted.png: cannot decode the PNG pixel data"), std::string::npos)
      << decode_error(bad_filter);

  // Pixel data one row short.
  std::vector<uint8_t> short_rows = filtered_rows(c, 0);
  short_rows.resize(short_rows.size() - (16 * 3 + 1));
  const std::vector<uint8_t> short_png = encode(c, 0, 1, 8, &short_rows);
  ASSERT_TRUE(media_detail::png_fast_parse(short_png.data(), short_png.size(), &layout));
  EXPECT_EQ(media_detail::png_fast_inflate(layout), nullptr);
  EXPECT_NE(decode_error(short_png).find("crafted.png"), std::string::npos);

  // No IEND (cut after the last IDAT).
  const std::vector<uint8_t> good = encode(c, 0, 1);
  const std::vector<uint8_t> cut(good.begin(), good.end() - 12);
  EXPECT_FALSE(media_detail::png_fast_parse(cut.data(), cut.size(), &layout));
}

// RGB with R = G = B everywhere (MedPix-VQA's PNGs): with collapse_gray_rgb the fast path unfilters
// one channel and returns the gray image; one differing pixel anywhere (first row, last pixel)
// gives the full RGB image instead. Both equal decode + collapse_gray_rgb.
TEST(PngFast, GrayContentInRgbFilesComesBackAsOneChannelWhenAsked) {
  for (int shift = 0; shift < 5; ++shift) {
    const Crafted gray = crafted(29, 17, 0, static_cast<uint32_t>(100 + shift));
    Crafted rgb = gray;
    rgb.color_type = 2;
    rgb.samples.clear();
    for (uint8_t v : gray.samples) rgb.samples.insert(rgb.samples.end(), {v, v, v});
    DecodeOptions collapse;
    collapse.collapse_gray_rgb = true;
    SCOPED_TRACE("first filter " + std::to_string(shift));

    const std::vector<uint8_t> png = encode(rgb, shift, 1);
    const Image got = decode_image(png.data(), png.size(), collapse, "gray-rgb.png");
    ASSERT_EQ(got.channels, 1);
    EXPECT_TRUE(got.pixels == gray.samples);
    EXPECT_EQ(decode_image(png.data(), png.size(), {}, "gray-rgb.png").channels, 3);  // not asked: RGB

    for (size_t at : {size_t{1}, rgb.samples.size() - 1}) {  // G of the first pixel, B of the last
      Crafted colour = rgb;
      colour.samples[at] ^= 1;
      const std::vector<uint8_t> cpng = encode(colour, shift, 1);
      const Image c = decode_image(cpng.data(), cpng.size(), collapse, "colour.png");
      ASSERT_EQ(c.channels, 3);
      EXPECT_TRUE(c.pixels == colour.samples);
    }
  }
}

TEST(PngFast, TheRealFixturesTakeTheFastPathOrNotAsTheirLayoutSays) {
  media_detail::PngFastLayout layout;
  for (const char* name : {"cxr-gray-512.png", "brain-palette-181x217.png"}) {
    const std::string path = media_test::fixture_image(name);
    ASSERT_TRUE(media_test::fixture_present(path));
    const std::vector<uint8_t> png = media_test::read_bytes(path);
    // Both are 8-bit and not interlaced (cxr: gray; brain: palette).
    EXPECT_TRUE(media_detail::png_fast_parse(png.data(), png.size(), &layout)) << name;
    EXPECT_EQ(layout.bit_depth, 8) << name;
  }
}

}  // namespace
}  // namespace omnitune
