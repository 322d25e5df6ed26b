// EXIF orientation parser and pixel transposes. Every read goes through a bounds-checked helper
// because the bytes come straight from dataset files; a bad offset ends the search, never the
// process. Only the one tag Pillow's exif_transpose acts on is read.
#include "media/exif.h"

#include <cstring>

namespace omnitune {
namespace {

constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kTypeShort = 3;
constexpr uint16_t kTypeLong = 4;

// Reads 16/32-bit integers in the block's byte order; the caller has checked the bounds.
struct TiffReader {
  const uint8_t* p;
  size_t n;
  bool little;

  bool has(size_t off, size_t len) const { return off <= n && len <= n - off; }
  uint32_t u16(size_t off) const {
    return little ? p[off] | (p[off + 1] << 8) : (p[off] << 8) | p[off + 1];
  }
  uint32_t u32(size_t off) const {
    const uint32_t b0 = p[off], b1 = p[off + 1], b2 = p[off + 2], b3 = p[off + 3];
    return little ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
  }
};

}  // namespace

int exif_orientation_from_tiff(const uint8_t* tiff, size_t n) {
  if (tiff == nullptr || n < 8) return 1;
  TiffReader r{tiff, n, false};
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    r.little = true;
  } else if (!(tiff[0] == 'M' && tiff[1] == 'M')) {
    return 1;
  }
  if (r.u16(2) != 42) return 1;
  const size_t ifd = r.u32(4);
  if (!r.has(ifd, 2)) return 1;
  const uint32_t count = r.u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = ifd + 2 + static_cast<size_t>(i) * 12;
    if (!r.has(entry, 12)) return 1;  // IFD cut short: stop, like a reader that hits the end
    if (r.u16(entry) != kOrientationTag) continue;
    const uint32_t type = r.u16(entry + 2);
    const uint32_t value_count = r.u32(entry + 4);
    if (value_count != 1) return 1;
    // A single SHORT or LONG sits in the first bytes of the 4-byte value field.
    uint32_t value = 0;
    if (type == kTypeShort) {
      value = r.u16(entry + 8);
    } else if (type == kTypeLong) {
      value = r.u32(entry + 8);
    } else {
      return 1;
    }
    return (value >= 1 && value <= 8) ? static_cast<int>(value) : 1;
  }
  return 1;
}

int jpeg_exif_orientation(const uint8_t* jpeg, size_t n) {
  if (jpeg == nullptr || n < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8) return 1;
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (jpeg[pos] != 0xFF) return 1;  // not at a marker: corrupt header, nothing to trust
    const uint8_t marker = jpeg[pos + 1];
    if (marker == 0xFF) {  // fill byte before a marker
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan / end of image: no EXIF
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      pos += 2;
      continue;
    }
    const size_t len = (static_cast<size_t>(jpeg[pos + 2]) << 8) | jpeg[pos + 3];
    if (len < 2 || len > n - pos - 2) return 1;
    const uint8_t* seg = jpeg + pos + 4;
    const size_t seg_len = len - 2;
    if (marker == 0xE1 && seg_len >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      return exif_orientation_from_tiff(seg + 6, seg_len - 6);
    }
    pos += 2 + len;
  }
  return 1;
}

Image apply_exif_orientation(Image img, int orientation) {
  if (orientation < 2 || orientation > 8) return img;
  const int w = img.width, h = img.height, c = img.channels;
  const bool swap = orientation_swaps_axes(orientation);
  Image out = make_image(swap ? h : w, swap ? w : h, c);
  const int ow = out.width, oh = out.height;
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                      // FLIP_LEFT_RIGHT
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;      // ROTATE_180
        case 4: sy = h - 1 - y; break;                      // FLIP_TOP_BOTTOM
        case 5: sx = y; sy = x; break;                      // TRANSPOSE
        case 6: sx = y; sy = h - 1 - x; break;              // ROTATE_270 (90 clockwise)
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;      // TRANSVERSE
        default: sx = w - 1 - y; sy = x; break;             // 8: ROTATE_90 (counter-clockwise)
      }
      const uint8_t* s = &img.pixels[(static_cast<size_t>(sy) * w + sx) * c];
      uint8_t* d = &out.pixels[(static_cast<size_t>(y) * ow + x) * c];
      for (int k = 0; k < c; ++k) d[k] = s[k];
    }
  }
  return out;
}

}  // namespace omnitune
