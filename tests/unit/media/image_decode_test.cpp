// Image decoding behaviour that needs no Pillow: format sniffing, every kind of bad input turning
// into an omnitune::Error that names the image (never a crash), the decompression-bomb limit
// firing before any large allocation, DCT-scaled JPEG sizes, and gray handling on the real fixtures.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "media/image_decode.h"
#include "media_test_util.h"

// Records the largest single operator-new request, so the bomb tests can prove that no buffer of
// the declared image size was requested before the limit check. noinline keeps GCC from pairing
// the inlined malloc/free with new/delete expressions (-Wmismatched-new-delete false positives).
namespace {
std::atomic<size_t> g_largest_new{0};
}  // namespace

__attribute__((noinline)) void* operator new(size_t n) {
  size_t seen = g_largest_new.load(std::memory_order_relaxed);
  while (n > seen && !g_largest_new.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace omnitune {
namespace {

using media_test::append_chunk;
using media_test::encode_jpeg;
using media_test::fixture_image;
using media_test::fixture_present;
using media_test::put_be32;
using media_test::read_bytes;
using media_test::synthetic_image;

// Runs decode_image and returns the Error message ("" if it did not throw omnitune::Error).
std::string decode_error(const std::vector<uint8_t>& bytes, const DecodeOptions& opt = {},
                         const std::string& what = "row 17 image") {
  try {
    decode_image(bytes.data(), bytes.size(), opt, what);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A syntactically valid PNG whose IHDR declares width x height (8-bit RGB) and whose IDAT holds a
// tiny zlib stream: all a decompression bomb needs to look like.
std::vector<uint8_t> png_declaring(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  append_chunk(png, "IHDR", ihdr);
  append_chunk(png, "IDAT", {0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  append_chunk(png, "IEND", {});
  return png;
}

// Offsets of the first IDAT chunk and of the IEND chunk of a PNG.
void idat_span(const std::vector<uint8_t>& png, size_t* first_idat, size_t* iend) {
  size_t pos = 8;
  *first_idat = *iend = 0;
  while (pos + 8 <= png.size()) {
    const uint32_t len = (uint32_t{png[pos]} << 24) | (uint32_t{png[pos + 1]} << 16) |
                         (uint32_t{png[pos + 2]} << 8) | png[pos + 3];
    if (std::memcmp(&png[pos + 4], "IDAT", 4) == 0 && *first_idat == 0) *first_idat = pos;
    if (std::memcmp(&png[pos + 4], "IEND", 4) == 0) *iend = pos;
    pos += 12 + len;
  }
}

TEST(ImageSniff, RecognisesJpegAndPngByMagicBytesOnly) {
  const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0};
  const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0};
  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a'};
  EXPECT_EQ(sniff_image_format(jpeg, sizeof(jpeg)), ImageFormat::Jpeg);
  EXPECT_EQ(sniff_image_format(png, sizeof(png)), ImageFormat::Png);
  EXPECT_EQ(sniff_image_format(gif, sizeof(gif)), ImageFormat::Unknown);
  EXPECT_EQ(sniff_image_format(jpeg, 2), ImageFormat::Unknown);  // too short to be sure
  EXPECT_EQ(sniff_image_format(png, 7), ImageFormat::Unknown);
  EXPECT_EQ(sniff_image_format(nullptr, 0), ImageFormat::Unknown);
}

TEST(ImageDecodeErrors, EmptyInputNamesTheImage) {
  const std::string msg = decode_error({});
  EXPECT_NE(msg.find("row 17 image"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

TEST(ImageDecodeErrors, UnknownFormatSaysWhatTheBytesLookLike) {
  std::vector<uint8_t> garbage(300);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 37 + 11);
  std::string msg = decode_error(garbage);
  EXPECT_NE(msg.find("row 17 image: not a JPEG or PNG image"), std::string::npos) << msg;
  EXPECT_NE(msg.find("convert the image to PNG"), std::string::npos) << msg;

  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
  EXPECT_NE(decode_error(gif).find("a GIF image"), std::string::npos);
  std::vector<uint8_t> dicom(200, 0);
  std::memcpy(&dicom[128], "DICM", 4);
  EXPECT_NE(decode_error(dicom).find("a DICOM file"), std::string::npos);
}

TEST(ImageDecodeErrors, GarbageAfterAValidSignatureIsAnError) {
  std::vector<uint8_t> fake_png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> fake_jpeg = {0xFF, 0xD8, 0xFF};
  for (int i = 0; i < 500; ++i) {
    fake_png.push_back(static_cast<uint8_t>(i * 91 + 7));
    fake_jpeg.push_back(static_cast<uint8_t>(i * 53 + 3));
  }
  const std::string png_msg = decode_error(fake_png);
  EXPECT_NE(png_msg.find("row 17 image: cannot read the PNG header"), std::string::npos) << png_msg;
  const std::string jpeg_msg = decode_error(fake_jpeg);
  EXPECT_NE(jpeg_msg.find("row 17 image:"), std::string::npos) << jpeg_msg;
  EXPECT_NE(jpeg_msg.find("JPEG"), std::string::npos) << jpeg_msg;
}

TEST(ImageDecodeErrors, TruncatedPngFailsAtEveryCutInsideTheImageData) {
  const std::string path = fixture_image("cxr-gray-512.png");
  ASSERT_TRUE(fixture_present(path));
  const std::vector<uint8_t> png = read_bytes(path);
  size_t first_idat = 0, iend = 0;
  idat_span(png, &first_idat, &iend);
  ASSERT_GT(first_idat, 0u);
  ASSERT_GT(iend, first_idat);
  // In the signature, in IHDR, before and inside the pixel data.
  std::vector<size_t> cuts = {1, 5, 8, 12, 20, 30, first_idat, first_idat + 10};
  for (int i = 1; i <= 9; ++i) cuts.push_back(first_idat + (iend - 12 - first_idat) * i / 10);
  for (size_t cut : cuts) {
    std::vector<uint8_t> part(png.begin(), png.begin() + static_cast<long>(cut));
    const std::string msg = decode_error(part);
    EXPECT_NE(msg.find("row 17 image"), std::string::npos) << "cut at " << cut << ": " << msg;
  }
}

TEST(ImageDecodeErrors, TruncatedJpegFailsAtEveryCut) {
  for (bool progressive : {false, true}) {
    const std::vector<uint8_t> jpeg = encode_jpeg(synthetic_image(181, 217, 3), 90, TJSAMP_420,
                                                  progressive ? TJFLAG_PROGRESSIVE : 0);
    ASSERT_GT(jpeg.size(), 1000u);
    const size_t n = jpeg.size();
    for (size_t cut : {size_t{3}, size_t{10}, size_t{100}, n / 4, n / 2, 3 * n / 4, n - 100}) {
      std::vector<uint8_t> part(jpeg.begin(), jpeg.begin() + static_cast<long>(cut));
      const std::string msg = decode_error(part);
      EXPECT_NE(msg.find("row 17 image"), std::string::npos)
          << (progressive ? "progressive" : "baseline") << " cut at " << cut << ": " << msg;
    }
  }
}

TEST(ImageDecodeErrors, MissingFileAndDirectoryNameThePath) {
  const std::string missing = "/nonexistent/dir/img.png";
  try {
    decode_image_file(missing, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  const std::string dir = std::filesystem::temp_directory_path().string();
  try {
    decode_image_file(dir, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}

TEST(ImageDecode, PngNamedJpgDecodesBecauseTheBytesDecide) {
  const std::string path = fixture_image("cxr-gray-512.png");
  ASSERT_TRUE(fixture_present(path));
  const std::vector<uint8_t> png = read_bytes(path);
  const std::string renamed =
      (std::filesystem::temp_directory_path() / ("omnitune_png_as_" + std::to_string(getpid()) + ".jpg"))
          .string();
  media_test::write_bytes(renamed, png);
  const Image from_file = decode_image_file(renamed, {});
  std::filesystem::remove(renamed);
  const Image from_bytes = decode_image(png.data(), png.size(), {}, "bytes");
  EXPECT_EQ(from_file.width, 512);
  EXPECT_EQ(from_file.height, 512);
  EXPECT_EQ(from_file.pixels, from_bytes.pixels);
}

TEST(ImageDecodeBomb, HugePngIsRejectedFromItsHeaderBeforeAnyLargeAllocation) {
  const std::vector<uint8_t> png = png_declaring(100000, 100000);
  g_largest_new = 0;
  const std::string msg = decode_error(png);
  const size_t largest = g_largest_new.load();
  EXPECT_NE(msg.find("row 17 image: 100000x100000 = 1.0e10 pixels exceeds the limit of 178956970 "
                     "(preprocess.max_image_pixels)"),
            std::string::npos)
      << msg;
  EXPECT_LT(largest, size_t{1} << 20) << "a " << largest << "-byte buffer was requested";
}

TEST(ImageDecodeBomb, OneSideLongerThanTheLimitIsReportedTheSameWay) {
  // libspng's own per-side limit stops this one; the message must still give the size.
  const std::string msg = decode_error(png_declaring(200000000, 1));
  EXPECT_NE(msg.find("200000000x1 = 2.0e8 pixels exceeds the limit of 178956970"),
            std::string::npos)
      << msg;
}

TEST(ImageDecodeBomb, HugeJpegIsRejectedFromItsHeader) {
  std::vector<uint8_t> jpeg = encode_jpeg(synthetic_image(64, 48, 3));
  // Patch the frame header (SOF0: FF C0, length, precision, height, width) to 65000 x 65000.
  bool patched = false;
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = jpeg[i + 7] = 65000 >> 8;
      jpeg[i + 6] = jpeg[i + 8] = 65000 & 0xFF;
      patched = true;
      break;
    }
  }
  ASSERT_TRUE(patched);
  g_largest_new = 0;
  const std::string msg = decode_error(jpeg);
  EXPECT_NE(msg.find("65000x65000 = 4.2e9 pixels exceeds the limit of 178956970"), std::string::npos)
      << msg;
  EXPECT_LT(g_largest_new.load(), size_t{1} << 20);
}

TEST(ImageDecodeBomb, TheLimitIsTheConfiguredOne) {
  DecodeOptions opt;
  opt.max_pixels = 1000;
  const std::string jpeg_msg = decode_error(encode_jpeg(synthetic_image(64, 64, 3)), opt);
  EXPECT_NE(jpeg_msg.find("64x64 = 4096 pixels exceeds the limit of 1000"), std::string::npos)
      << jpeg_msg;
  const std::string path = fixture_image("brain-palette-181x217.png");
  ASSERT_TRUE(fixture_present(path));
  const std::string png_msg = decode_error(read_bytes(path), opt);
  EXPECT_NE(png_msg.find("181x217 = 39277 pixels exceeds the limit of 1000"), std::string::npos)
      << png_msg;
  opt.max_pixels = 181 * 217;  // exactly at the limit is allowed
  const std::vector<uint8_t> bytes = read_bytes(path);
  EXPECT_NO_THROW(decode_image(bytes.data(), bytes.size(), opt, "at limit"));
}

TEST(ImageDecodeJpeg, DctScalingPicksTheSmallestPowerOfTwoScaleStillCoveringTheTarget) {
  const std::vector<uint8_t> jpeg = encode_jpeg(synthetic_image(2048, 2048, 3), 85);
  struct Case {
    int tw, th, expect_w, expect_h;
  };
  const Case cases[] = {
      {896, 896, 1024, 1024},    // 1/2
      {300, 300, 512, 512},      // 1/4
      {256, 256, 256, 256},      // 1/8, exactly the target
      {257, 10, 512, 512},       // 1/8 gives 256 < 257, so 1/4
      {1000, 300, 1024, 1024},   // the larger side of the target decides
      {1100, 300, 2048, 2048},   // 5/8 would do, but only 1/2, 1/4 and 1/8 are used (speed)
      {2048, 2048, 2048, 2048},  // 1/1
      {3000, 3000, 2048, 2048},  // never enlarged
      {0, 0, 2048, 2048},        // no target: full size
  };
  for (const Case& c : cases) {
    DecodeOptions opt;
    opt.target_w = c.tw;
    opt.target_h = c.th;
    const Image img = decode_image(jpeg.data(), jpeg.size(), opt, "2048 jpeg");
    EXPECT_EQ(img.width, c.expect_w) << "target " << c.tw << "x" << c.th;
    EXPECT_EQ(img.height, c.expect_h) << "target " << c.tw << "x" << c.th;
  }
}

TEST(ImageDecodeJpeg, DctScalingNeverGoesBelowTheTarget) {
  const std::vector<uint8_t> jpeg = encode_jpeg(synthetic_image(333, 517, 1), 85);
  for (int t = 1; t <= 600; t += 7) {
    DecodeOptions opt;
    opt.target_w = t;
    opt.target_h = t / 2;
    const Image img = decode_image(jpeg.data(), jpeg.size(), opt, "333x517 jpeg");
    EXPECT_GE(img.width, std::min(t, 333)) << t;
    EXPECT_GE(img.height, std::min(t / 2, 517)) << t;
    EXPECT_LE(img.width, 333);
  }
}

TEST(ImageDecodeGray, GraySourcesStayOneChannelUnlessAskedForRgb) {
  const std::string cxr = fixture_image("cxr-gray-512.png");
  const std::string brain = fixture_image("brain-palette-181x217.png");
  ASSERT_TRUE(fixture_present(cxr));
  ASSERT_TRUE(fixture_present(brain));
  DecodeOptions rgb_opt;
  rgb_opt.keep_gray = false;
  for (const std::string& path : {cxr, brain}) {
    const Image gray = decode_image_file(path, {});
    EXPECT_EQ(gray.channels, 1) << path;
    const Image rgb = decode_image_file(path, rgb_opt);
    EXPECT_EQ(rgb.channels, 3) << path;
    EXPECT_EQ(rgb.pixels, to_rgb(gray).pixels) << path;
  }
  const Image cxr_img = decode_image_file(cxr, {});
  EXPECT_EQ(cxr_img.width, 512);
  EXPECT_EQ(cxr_img.height, 512);
  const Image brain_img = decode_image_file(brain, {});
  EXPECT_EQ(brain_img.width, 181);
  EXPECT_EQ(brain_img.height, 217);

  const std::vector<uint8_t> gray_jpeg = encode_jpeg(synthetic_image(40, 30, 1));
  const Image jg = decode_image(gray_jpeg.data(), gray_jpeg.size(), {}, "gray jpeg");
  EXPECT_EQ(jg.channels, 1);
  const Image jrgb = decode_image(gray_jpeg.data(), gray_jpeg.size(), rgb_opt, "gray jpeg");
  EXPECT_EQ(jrgb.pixels, to_rgb(jg).pixels);
}

TEST(ImageGray, ToRgbReplicatesAndCollapseUndoesItExactly) {
  const Image gray = synthetic_image(7, 5, 1);
  const Image rgb = to_rgb(gray);
  ASSERT_EQ(rgb.channels, 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    EXPECT_EQ(rgb.pixels[3 * i], gray.pixels[i]);
    EXPECT_EQ(rgb.pixels[3 * i + 1], gray.pixels[i]);
    EXPECT_EQ(rgb.pixels[3 * i + 2], gray.pixels[i]);
  }
  const Image back = collapse_gray_rgb(rgb);
  EXPECT_EQ(back.channels, 1);
  EXPECT_EQ(back.pixels, gray.pixels);
  Image colour = rgb;
  colour.pixels[3 * 17 + 2] ^= 1;  // one pixel off gray keeps the image RGB
  EXPECT_EQ(collapse_gray_rgb(colour).channels, 3);
  EXPECT_EQ(collapse_gray_rgb(colour).pixels, colour.pixels);
}

}  // namespace
}  // namespace omnitune
