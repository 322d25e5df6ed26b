// PNG decoding. Common 8-bit, non-interlaced files take the fast path of png_fast.cpp; everything
// else, and every error, goes through libspng. Both hand back the file's own samples (SPNG_FMT_PNG) and this file
// reduces them to 8 bits exactly as Pillow 9.4's PNG plugin + convert("RGB") does, because Pillow
// is the reference: 16-bit gray is clipped at 255 (mode "I"), other 16-bit samples keep the high
// byte, low bit depths are scaled to 0..255, alpha is dropped without compositing, palettes expand.
#include <spng.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "media/decoders.h"
#include "media/exif.h"

namespace omnitune {
namespace media_detail {
namespace {

// Ancillary-chunk limits: no single metadata chunk above 16 MiB, 64 MiB of metadata in all.
// Pillow refuses text chunks above 1 MiB after decompression; real medical PNGs carry a few KiB.
constexpr size_t kMaxChunkBytes = size_t{16} << 20;
constexpr size_t kMaxChunkCacheBytes = size_t{64} << 20;

struct SpngContext {
  spng_ctx* ctx = spng_ctx_new(0);
  ~SpngContext() {
    if (ctx != nullptr) spng_ctx_free(ctx);
  }
};

[[noreturn]] void fail_spng(const std::string& what, const char* step, int err) {
  OT_FAIL(what, ": ", step, " (libspng: ", spng_strerror(err),
          "); the PNG file is truncated or corrupt: re-export or re-download it");
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Sample x of a packed row of 1-, 2-, 4- or 8-bit samples (most significant bits first).
inline uint32_t packed_sample(const uint8_t* row, size_t x, int depth) {
  if (depth == 8) return row[x];
  const size_t per_byte = static_cast<size_t>(8 / depth);
  const int shift = 8 - depth * static_cast<int>(x % per_byte + 1);
  return (row[x / per_byte] >> shift) & ((1u << depth) - 1);
}

// Sample i of a row of host-endian 16-bit samples (SPNG_FMT_PNG converts them from big-endian).
inline uint32_t u16_sample(const uint8_t* row, size_t i) {
  uint16_t v;
  std::memcpy(&v, row + 2 * i, 2);
  return v;
}

inline void put(uint8_t* dst, int channels, uint8_t v) {
  dst[0] = v;
  if (channels == 3) dst[1] = dst[2] = v;
}

// Gray PNGs (color types 0 and 4) at any depth to 1 or 3 channels.
void convert_gray(const uint8_t* raw, size_t stride, const spng_ihdr& ihdr, Image& img) {
  const int depth = ihdr.bit_depth;
  const bool alpha = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  const uint32_t scale = depth < 8 ? 255u / ((1u << depth) - 1) : 1;  // 1 bit: x255, 2: x85, 4: x17
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* row = raw + y * stride;
    uint8_t* out = &img.pixels[static_cast<size_t>(y) * img.width * img.channels];
    for (int x = 0; x < img.width; ++x, out += img.channels) {
      uint32_t v;
      if (alpha) {
        // Pillow unpacks "LA" (8-bit) and "LA;16B" (16-bit, high byte) and drops alpha.
        v = depth == 16 ? u16_sample(row, 2 * x) >> 8 : row[2 * x];
      } else if (depth == 16) {
        v = std::min<uint32_t>(u16_sample(row, x), 255);  // mode "I" -> "L"/"RGB" clips at 255
      } else {
        v = packed_sample(row, x, depth) * scale;
      }
      put(out, img.channels, static_cast<uint8_t>(v));
    }
  }
}

// RGB and RGBA PNGs: 16-bit samples keep their high byte ("RGB;16B"), alpha is dropped.
void convert_color(const uint8_t* raw, size_t stride, const spng_ihdr& ihdr, Image& img) {
  const int in_channels = ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ? 4 : 3;
  const bool wide = ihdr.bit_depth == 16;
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* row = raw + y * stride;
    uint8_t* out = &img.pixels[static_cast<size_t>(y) * img.width * 3];
    for (int x = 0; x < img.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        const size_t i = static_cast<size_t>(x) * in_channels + c;
        out[3 * x + c] = static_cast<uint8_t>(wide ? u16_sample(row, i) >> 8 : row[i]);
      }
    }
  }
}

// Palette PNGs. Indices past the end of PLTE get Pillow's default palette entry (i, i, i).
void convert_palette(const uint8_t* raw, size_t stride, const spng_ihdr& ihdr,
                     const uint8_t (&lut)[256][3], Image& img) {
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* row = raw + y * stride;
    uint8_t* out = &img.pixels[static_cast<size_t>(y) * img.width * img.channels];
    for (int x = 0; x < img.width; ++x, out += img.channels) {
      const uint8_t* rgb = lut[packed_sample(row, x, ihdr.bit_depth)];
      out[0] = rgb[0];
      if (img.channels == 3) {
        out[1] = rgb[1];
        out[2] = rgb[2];
      }
    }
  }
}

// The file's samples (SPNG_FMT_PNG layout, rows `stride` bytes) to the output image: 1 channel
// for gray sources kept gray, else RGB. fill(dst, size) writes the samples and returns false when
// the pixel data is corrupt. 8-bit gray kept gray and 8-bit RGB already have the output layout and
// are written in place.
template <class Fill>
bool png_samples_to_image(const spng_ihdr& ihdr, const spng_plte& plte, size_t stride, bool keep_gray,
                          Fill fill, Image* out) {
  const int ct = ihdr.color_type;
  const bool gray = ct == SPNG_COLOR_TYPE_GRAYSCALE || ct == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  uint8_t lut[256][3];
  bool gray_palette = true;
  if (ct == SPNG_COLOR_TYPE_INDEXED) {
    for (uint32_t i = 0; i < 256; ++i) {
      const bool listed = i < plte.n_entries;
      lut[i][0] = listed ? plte.entries[i].red : static_cast<uint8_t>(i);
      lut[i][1] = listed ? plte.entries[i].green : static_cast<uint8_t>(i);
      lut[i][2] = listed ? plte.entries[i].blue : static_cast<uint8_t>(i);
      gray_palette = gray_palette && lut[i][0] == lut[i][1] && lut[i][0] == lut[i][2];
    }
  }
  const bool one_channel = keep_gray && (gray || (ct == SPNG_COLOR_TYPE_INDEXED && gray_palette));
  Image img = make_image(static_cast<int>(ihdr.width), static_cast<int>(ihdr.height), one_channel ? 1 : 3);
  const size_t raw_size = stride * ihdr.height;
  const bool direct = ihdr.bit_depth == 8 && ((ct == SPNG_COLOR_TYPE_GRAYSCALE && one_channel) ||
                                              ct == SPNG_COLOR_TYPE_TRUECOLOR);
  if (direct) {
    OT_CHECK(raw_size == img.pixels.size(), raw_size, " vs ", img.pixels.size());
    if (!fill(img.pixels.data(), raw_size)) return false;
  } else {
    std::vector<uint8_t> raw(raw_size);  // zeroed: libspng ORs sub-byte samples of interlaced passes into it
    if (!fill(raw.data(), raw_size)) return false;
    if (gray) {
      convert_gray(raw.data(), stride, ihdr, img);
    } else if (ct == SPNG_COLOR_TYPE_INDEXED) {
      convert_palette(raw.data(), stride, ihdr, lut, img);
    } else {
      convert_color(raw.data(), stride, ihdr, img);
    }
  }
  *out = std::move(img);
  return true;
}

// The common 8-bit, non-interlaced file through png_fast.cpp; false sends it to libspng.
bool decode_png_fast(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what,
                     Image* out) {
  PngFastLayout png;
  if (!png_fast_parse(data, n, &png)) return false;
  check_pixel_limit(png.width, png.height, opt.max_pixels, what);
  spng_ihdr ihdr{};
  ihdr.width = png.width;
  ihdr.height = png.height;
  ihdr.bit_depth = png.bit_depth;
  ihdr.color_type = png.color_type;
  spng_plte plte{};
  plte.n_entries = static_cast<uint32_t>(png.palette.size() / 3);
  for (uint32_t i = 0; i < plte.n_entries; ++i) {
    plte.entries[i].red = png.palette[3 * i];
    plte.entries[i].green = png.palette[3 * i + 1];
    plte.entries[i].blue = png.palette[3 * i + 2];
  }
  const size_t stride = size_t{png.width} * png.channels;
  const uint8_t* filtered = png_fast_inflate(png);
  if (filtered == nullptr) return false;
  Image img;
  bool done = false;
  if (png.color_type == SPNG_COLOR_TYPE_TRUECOLOR && opt.keep_gray && opt.collapse_gray_rgb) {
    img = make_image(static_cast<int>(png.width), static_cast<int>(png.height), 1);
    done = png_fast_unfilter_gray_rgb(png, filtered, img.pixels.data());
  }
  if (!done) {
    auto fill = [&](uint8_t* dst, size_t) { return png_fast_unfilter(png, filtered, dst, stride); };
    if (!png_samples_to_image(ihdr, plte, stride, opt.keep_gray, fill, &img)) return false;
  }
  const int orientation = png.exif.first != nullptr ? exif_orientation_from_tiff(png.exif.first, png.exif.second) : 1;
  *out = apply_exif_orientation(std::move(img), orientation);
  return true;
}

}  // namespace

Image decode_png(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what) {
  {
    Image img;
    if (decode_png_fast(data, n, opt, what, &img)) return img;
  }
  SpngContext s;
  OT_CHECK(s.ctx != nullptr, "spng_ctx_new failed");
  spng_ctx* ctx = s.ctx;
  OT_CHECK(spng_set_png_buffer(ctx, data, n) == 0);
  // A side longer than the pixel limit can never pass it; libspng then stops at the header.
  const int64_t side = std::min<int64_t>(opt.max_pixels, std::numeric_limits<int32_t>::max());
  OT_CHECK(spng_set_image_limits(ctx, static_cast<uint32_t>(side), static_cast<uint32_t>(side)) == 0);
  OT_CHECK(spng_set_chunk_limits(ctx, kMaxChunkBytes, kMaxChunkCacheBytes) == 0);

  spng_ihdr ihdr{};
  int err = spng_get_ihdr(ctx, &ihdr);
  if ((err == SPNG_EUSER_WIDTH || err == SPNG_EUSER_HEIGHT) && n >= 24) {
    // Report the declared size like any other oversized image: IHDR is the first chunk.
    check_pixel_limit(read_be32(data + 16), read_be32(data + 20), opt.max_pixels, what);
  }
  if (err != 0) fail_spng(what, "cannot read the PNG header", err);
  check_pixel_limit(ihdr.width, ihdr.height, opt.max_pixels, what);

  size_t raw_size = 0;
  err = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &raw_size);
  if (err != 0) fail_spng(what, "unsupported PNG layout", err);
  OT_CHECK(raw_size % ihdr.height == 0, raw_size, " bytes for ", ihdr.height, " rows");

  spng_plte plte{};
  if (ihdr.color_type == SPNG_COLOR_TYPE_INDEXED) {
    err = spng_get_plte(ctx, &plte);
    if (err != 0) fail_spng(what, "cannot read the palette (PLTE)", err);
  }
  Image img;
  png_samples_to_image(ihdr, plte, raw_size / ihdr.height, opt.keep_gray,
                       [&](uint8_t* dst, size_t size) {
                         err = spng_decode_image(ctx, dst, size, SPNG_FMT_PNG, 0);
                         if (err != 0) fail_spng(what, "cannot decode the PNG pixel data", err);
                         return true;
                       },
                       &img);

  // eXIf may also follow the pixel data. Pillow reads those chunks on load and ignores damage
  // after the image data, so a failure here only means "no orientation".
  spng_exif exif{};
  err = spng_get_exif(ctx, &exif);
  if (err != 0 && spng_decode_chunks(ctx) == 0) err = spng_get_exif(ctx, &exif);
  int orientation = 1;
  if (err == 0 && exif.data != nullptr) {
    orientation = exif_orientation_from_tiff(reinterpret_cast<const uint8_t*>(exif.data), exif.length);
  }
  return apply_exif_orientation(std::move(img), orientation);
}

}  // namespace media_detail
}  // namespace omnitune
