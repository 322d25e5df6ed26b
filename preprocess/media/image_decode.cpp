// Format sniffing and dispatch for image decoding, plus the checks every codec shares. The format
// comes from magic bytes because dataset files are often misnamed (a PNG saved as .jpg); bytes
// that are neither JPEG nor PNG get a message that says what they look like.
#include "media/image_decode.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/text_util.h"
#include "media/decoders.h"

namespace omnitune {
namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool starts_with(const uint8_t* data, size_t n, const void* magic, size_t m, size_t at = 0) {
  return n >= at + m && std::memcmp(data + at, magic, m) == 0;
}

// Names a few formats seen in medical and web datasets so the error can say what to convert.
std::string describe_other_format(const uint8_t* data, size_t n) {
  if (starts_with(data, n, "GIF8", 4)) return "a GIF image";
  if (starts_with(data, n, "BM", 2)) return "a BMP image";
  if (starts_with(data, n, "II*\0", 4) || starts_with(data, n, "MM\0*", 4)) return "a TIFF image";
  if (starts_with(data, n, "RIFF", 4) && starts_with(data, n, "WEBP", 4, 8)) return "a WebP image";
  if (starts_with(data, n, "DICM", 4, 128)) return "a DICOM file";
  if (starts_with(data, n, "\0\0\0\x0cjP  ", 8)) return "a JPEG 2000 image";
  if (starts_with(data, n, "ftyp", 4, 4)) return "an HEIF/AVIF image";
  if (n >= 1 && (data[0] == '<' || data[0] == '{')) return "text (HTML, XML or JSON), not an image";
  return "not a recognised image format";
}



// "1.6e9" style for large counts, exact below a million.
std::string approx_count(double v) {
  if (v < 1e6) return std::to_string(static_cast<int64_t>(v));
  int e = static_cast<int>(std::floor(std::log10(v)));
  double m = v / std::pow(10.0, e);
  if (m >= 9.95) {  // rounds up to 10.0: renormalise so we print 1.0eN+1
    m /= 10;
    ++e;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fe%d", m, e);
  return buf;
}

}  // namespace

namespace media_detail {

void check_pixel_limit(int64_t width, int64_t height, int64_t max_pixels, const std::string& what) {
  // Both sides come from 32-bit header fields, so the product fits in 64 bits.
  const int64_t pixels = width * height;
  if (pixels <= max_pixels) return;
  OT_FAIL(what, ": ", width, "x", height, " = ", approx_count(static_cast<double>(pixels)),
          " pixels exceeds the limit of ", max_pixels,
          " (preprocess.max_image_pixels); this guards against decompression bombs: raise the "
          "limit if the image is genuine, or drop the image from the dataset");
}

}  // namespace media_detail

ImageFormat sniff_image_format(const uint8_t* data, size_t n) {
  if (data == nullptr) return ImageFormat::Unknown;
  if (n >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::Jpeg;
  if (starts_with(data, n, kPngSignature, sizeof(kPngSignature))) return ImageFormat::Png;
  return ImageFormat::Unknown;
}

Image decode_image(const uint8_t* data, size_t n, const DecodeOptions& opt, const std::string& what) {
  OT_REQUIRE(n > 0 && data != nullptr, what,
             ": the image is empty (0 bytes); check that the row or file really holds the image");
  OT_REQUIRE(opt.max_pixels > 0, what, ": preprocess.max_image_pixels must be > 0, got ",
             opt.max_pixels);
  auto gray_if_asked = [&](Image img) {
    return opt.keep_gray && opt.collapse_gray_rgb && img.channels == 3 ? collapse_gray_rgb(std::move(img)) : img;
  };
  switch (sniff_image_format(data, n)) {
    case ImageFormat::Jpeg:
      return gray_if_asked(media_detail::decode_jpeg(data, n, opt, what));
    case ImageFormat::Png:
      return gray_if_asked(media_detail::decode_png(data, n, opt, what));
    case ImageFormat::Unknown:
      break;
  }
  OT_FAIL(what, ": not a JPEG or PNG image (", n, " bytes starting ", hex_prefix(data, n),
          ": ", describe_other_format(data, n),
          "); omnitune reads JPEG and PNG only: convert the image to PNG");
}

Image decode_image_file(const std::string& path, const DecodeOptions& opt) {
  std::error_code ec;
  OT_REQUIRE(!std::filesystem::is_directory(path, ec), path,
             ": is a directory, not an image file; check the dataset's image paths");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  OT_REQUIRE(in.good(), path, ": cannot open the image file (", std::strerror(errno),
             "); check the path and the dataset's image directory");
  const std::streamoff size = in.tellg();
  OT_REQUIRE(size >= 0, path, ": cannot determine the size of the image file");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  OT_REQUIRE(in.gcount() == size, path, ": read error while loading the image file (got ",
             in.gcount(), " of ", size, " bytes)");
  return decode_image(bytes.data(), bytes.size(), opt, path);
}

}  // namespace omnitune
