// libspng encoder into memory: IHDR from the image, default compression, no extra chunks, so the
// bytes depend only on the pixels (sample datasets are reproducible byte for byte).
#include "media/image_encode.h"

#include <spng.h>
#include <turbojpeg.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "core/error.h"

namespace omnitune {

std::vector<uint8_t> encode_png(const Image& img, const std::string& what) {
  OT_REQUIRE(img.channels == 1 || img.channels == 3, what, ": PNG encoding needs 1 or 3 channels, got ", img.channels);
  OT_REQUIRE(img.width > 0 && img.height > 0 &&
                 img.pixels.size() == size_t(img.width) * img.height * img.channels,
             what, ": pixel buffer does not match ", img.width, "x", img.height, "x", img.channels);
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(SPNG_CTX_ENCODER), spng_ctx_free);
  OT_REQUIRE(ctx, what, ": cannot create a PNG encoder (out of memory?)");
  spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = static_cast<uint32_t>(img.width);
  ihdr.height = static_cast<uint32_t>(img.height);
  ihdr.bit_depth = 8;
  ihdr.color_type = img.channels == 1 ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR;
  spng_set_ihdr(ctx.get(), &ihdr);
  int rc = spng_encode_image(ctx.get(), img.pixels.data(), img.pixels.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  OT_REQUIRE(rc == 0, what, ": PNG encoding failed: ", spng_strerror(rc));
  size_t len = 0;
  int err = 0;
  void* buf = spng_get_png_buffer(ctx.get(), &len, &err);
  OT_REQUIRE(buf && err == 0, what, ": PNG encoding failed: ", spng_strerror(err));
  std::vector<uint8_t> out(static_cast<uint8_t*>(buf), static_cast<uint8_t*>(buf) + len);
  std::free(buf);
  return out;
}

void write_png_file(const Image& img, const std::string& path) {
  std::vector<uint8_t> png = encode_png(img, path);
  std::ofstream out(path, std::ios::binary);
  OT_REQUIRE(out.good(), "cannot write ", path, " (is the directory writable?)");
  out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  OT_REQUIRE(out.good(), "writing ", path, " failed (disk full?)");
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality, const std::string& what) {
  OT_REQUIRE(img.channels == 1 || img.channels == 3, what, ": JPEG encoding needs 1 or 3 channels");
  OT_REQUIRE(img.pixels.size() == size_t(img.width) * img.height * img.channels && img.width > 0 && img.height > 0,
             what, ": pixel buffer does not match its size");
  std::unique_ptr<void, int (*)(tjhandle)> h(tjInitCompress(), tjDestroy);
  OT_REQUIRE(h, what, ": cannot create a JPEG encoder");
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int pf = img.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int ss = img.channels == 1 ? TJSAMP_GRAY : TJSAMP_420;
  int rc = tjCompress2(h.get(), img.pixels.data(), img.width, 0, img.height, pf, &buf, &size, ss, quality, 0);
  OT_REQUIRE(rc == 0, what, ": JPEG encoding failed: ", tjGetErrorStr2(h.get()));
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}

}  // namespace omnitune
