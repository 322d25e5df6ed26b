// The fast path under decode_png for the PNGs datasets actually hold: 8-bit samples, not
// interlaced (MedPix-VQA: 8-bit RGB, Paeth-filtered rows). libspng spends most of its time in a
// generic per-scanline unfilter and zlib's inflate; here the whole zlib stream is inflated at once
// with libdeflate (about twice zlib's rate) and the rows are unfiltered by loops specialised for
// each pixel size. Anything else (other depths, Adam7, bad CRCs, odd chunk order, short or long
// pixel data) makes this path step aside, and libspng decodes the file and owns every error message.
#include <libdeflate.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "media/decoders.h"

namespace omnitune {
namespace media_detail {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
// Per-thread scratch buffers larger than this are released when a much smaller image follows.
constexpr size_t kKeepBufferBytes = size_t{64} << 20;
// Same limit on a single ancillary chunk as the libspng path (kMaxChunkBytes there).
constexpr uint32_t kMaxAncillaryBytes = uint32_t{16} << 20;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool is_type(const uint8_t* type, const char* name) { return std::memcmp(type, name, 4) == 0; }

int channels_of(uint8_t color_type) {
  switch (color_type) {
    case 0: return 1;  // gray
    case 2: return 3;  // RGB
    case 3: return 1;  // palette index
    case 4: return 2;  // gray + alpha
    case 6: return 4;  // RGBA
    default: return 0;
  }
}

struct Deflater {
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  ~Deflater() {
    if (d != nullptr) libdeflate_free_decompressor(d);
  }
};

inline uint8_t paeth(int a, int b, int c) {
  const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : (pb <= pc ? b : c));
}

// One row of BPP-byte pixels: out = unfilter(in) given the previous output row (nullptr on the
// first row, which PNG treats as zeros).
template <int BPP>
bool unfilter_row(uint8_t kind, const uint8_t* in, const uint8_t* prev, uint8_t* out, size_t n) {
  static const uint8_t kZeros[4] = {0, 0, 0, 0};
  switch (kind) {
    case 0:
      std::memcpy(out, in, n);
      return true;
    case 1:  // Sub
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(in[i] + (i >= BPP ? out[i - BPP] : 0));
      return true;
    case 2:  // Up
      if (prev == nullptr) {
        std::memcpy(out, in, n);
      } else {
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(in[i] + prev[i]);
      }
      return true;
    case 3:  // Average
      for (size_t i = 0; i < n; ++i) {
        const int a = i >= BPP ? out[i - BPP] : 0, b = prev != nullptr ? prev[i] : 0;
        out[i] = static_cast<uint8_t>(in[i] + ((a + b) >> 1));
      }
      return true;
    case 4: {  // Paeth: with no previous row it is Sub
      if (prev == nullptr) return unfilter_row<BPP>(1, in, nullptr, out, n);
      const uint8_t* left = kZeros;  // a and c of the first pixel are zero
      const uint8_t* upleft = kZeros;
      for (size_t i = 0; i < n; i += BPP) {
        for (int k = 0; k < BPP; ++k) out[i + k] = static_cast<uint8_t>(in[i + k] + paeth(left[k], prev[i + k], upleft[k]));
        left = out + i;
        upleft = prev + i;
      }
      return true;
    }
    default:
      return false;  // not a PNG filter type: libspng reports the corrupt row
  }
}

template <int BPP>
bool unfilter_rows(const uint8_t* filtered, int height, size_t row_bytes, uint8_t* dst, size_t stride) {
  const uint8_t* prev = nullptr;
  for (int y = 0; y < height; ++y) {
    const uint8_t* in = filtered + static_cast<size_t>(y) * (row_bytes + 1);
    uint8_t* out = dst + static_cast<size_t>(y) * stride;
    if (!unfilter_row<BPP>(in[0], in + 1, prev, out, row_bytes)) return false;
    prev = out;
  }
  return true;
}

}  // namespace

bool png_fast_parse(const uint8_t* data, size_t n, PngFastLayout* out) {
  if (n < 8 + 25 || std::memcmp(data, kSignature, 8) != 0) return false;
  PngFastLayout png;
  bool seen_ihdr = false, seen_idat = false, idat_ended = false, seen_exif = false;
  size_t pos = 8;
  for (;;) {
    if (n - pos < 12) return false;  // truncated: no IEND
    const uint32_t len = be32(data + pos);
    const uint8_t* type = data + pos + 4;
    if (len > 0x7FFFFFFFu || n - pos - 12 < len) return false;
    const uint8_t* body = type + 4;
    if (libdeflate_crc32(0, type, len + 4) != be32(body + len)) return false;
    const bool critical = (type[0] & 0x20) == 0;
    if (!seen_ihdr) {
      if (!is_type(type, "IHDR") || len != 13) return false;
      png.width = be32(body);
      png.height = be32(body + 4);
      png.bit_depth = body[8];
      png.color_type = body[9];
      png.channels = channels_of(png.color_type);
      // Compression, filter method and interlace: only 0, 0, 0 here.
      if (png.width == 0 || png.height == 0 || png.width > 0x7FFFFFFFu || png.height > 0x7FFFFFFFu ||
          png.bit_depth != 8 || png.channels == 0 || body[10] != 0 || body[11] != 0 ||
          body[12] != 0) {
        return false;
      }
      seen_ihdr = true;
    } else if (is_type(type, "IDAT")) {
      if (idat_ended) return false;  // IDAT chunks must be consecutive
      seen_idat = true;
      png.idat.emplace_back(body, len);
    } else {
      if (seen_idat) idat_ended = true;
      if (is_type(type, "IEND")) break;
      if (is_type(type, "PLTE")) {
        if (seen_idat || !png.palette.empty() || len == 0 || len % 3 != 0 || len > 3 * 256) return false;
        png.palette.assign(body, body + len);
      } else if (is_type(type, "eXIf")) {
        if (seen_exif) return false;  // libspng's rules for a second eXIf apply
        seen_exif = true;
        png.exif = {body, len};
      } else if (is_type(type, "tRNS")) {
        // Misplaced or malformed transparency is libspng's to judge; a valid one changes nothing
        // (alpha is dropped like Pillow's convert("RGB")).
        const bool ok = !seen_idat && (png.color_type == 0   ? len == 2
                                       : png.color_type == 2 ? len == 6
                                       : png.color_type == 3 ? !png.palette.empty() && len <= png.palette.size() / 3
                                                             : false);
        if (!ok) return false;
      } else if (critical || len > kMaxAncillaryBytes) {
        return false;
      }
    }
    pos += 12 + len;
  }
  if (!seen_idat || (png.color_type == 3) != !png.palette.empty()) return false;
  *out = std::move(png);
  return true;
}

const uint8_t* png_fast_inflate(const PngFastLayout& png) {
  const size_t filtered_size = (size_t{png.width} * png.channels + 1) * png.height;
  // One zlib stream over all IDAT bodies; the buffers are kept per thread so decode threads reuse
  // their pages (fresh pages cost more than the copy on a VM).
  thread_local std::vector<uint8_t> stream, filtered;
  // One huge image (up to the pixel limit: GBs) must not stay attached to a long-lived thread.
  for (std::vector<uint8_t>* v : {&stream, &filtered})
    if (v->capacity() > kKeepBufferBytes && filtered_size < v->capacity() / 4) std::vector<uint8_t>().swap(*v);
  const uint8_t* zdata;
  size_t zsize;
  if (png.idat.size() == 1) {
    zdata = png.idat[0].first;
    zsize = png.idat[0].second;
  } else {
    stream.clear();
    for (const auto& [p, len] : png.idat) stream.insert(stream.end(), p, p + len);
    zdata = stream.data();
    zsize = stream.size();
  }
  filtered.resize(filtered_size);
  thread_local Deflater inflater;
  if (inflater.d == nullptr) return nullptr;
  size_t actual = 0;
  if (libdeflate_zlib_decompress(inflater.d, zdata, zsize, filtered.data(), filtered_size, &actual) !=
          LIBDEFLATE_SUCCESS ||
      actual != filtered_size) {
    return nullptr;
  }
  return filtered.data();
}

bool png_fast_unfilter(const PngFastLayout& png, const uint8_t* filtered, uint8_t* dst, size_t stride) {
  const size_t row_bytes = size_t{png.width} * png.channels;
  const int h = static_cast<int>(png.height);
  switch (png.channels) {
    case 1: return unfilter_rows<1>(filtered, h, row_bytes, dst, stride);
    case 2: return unfilter_rows<2>(filtered, h, row_bytes, dst, stride);
    case 3: return unfilter_rows<3>(filtered, h, row_bytes, dst, stride);
    default: return unfilter_rows<4>(filtered, h, row_bytes, dst, stride);
  }
}

bool png_fast_unfilter_gray_rgb(const PngFastLayout& png, const uint8_t* filtered, uint8_t* dst) {
  if (png.color_type != 2) return false;
  // Filters work per byte on same-channel neighbours, so the raw pixels all have R = G = B exactly
  // when every filtered row has equal R, G and B bytes; then channel R unfiltered as a 1-byte-pixel
  // row is the image.
  const size_t w = png.width, row_bytes = 3 * w;
  thread_local std::vector<uint8_t> channel;
  if (channel.capacity() > kKeepBufferBytes && w < channel.capacity() / 4) std::vector<uint8_t>().swap(channel);
  channel.resize(w);
  const uint8_t* prev = nullptr;
  for (uint32_t y = 0; y < png.height; ++y) {
    const uint8_t* in = filtered + static_cast<size_t>(y) * (row_bytes + 1);
    const uint8_t* px = in + 1;
    unsigned differ = 0;
    for (size_t x = 0; x < w; ++x) {
      const uint8_t r = px[3 * x];
      differ |= static_cast<unsigned>(r ^ px[3 * x + 1]) | static_cast<unsigned>(r ^ px[3 * x + 2]);
      channel[x] = r;
    }
    if (differ != 0) return false;
    uint8_t* out = dst + static_cast<size_t>(y) * w;
    if (!unfilter_row<1>(in[0], channel.data(), prev, out, w)) return false;
    prev = out;
  }
  return true;
}

}  // namespace media_detail
}  // namespace omnitune
