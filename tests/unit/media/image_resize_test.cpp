// Bilinear resize properties that need no reference files: small cases whose expected bytes were
// computed with Pillow 9.4's Image.resize(..., BILINEAR) (up, down, mixed and RGB), constant images
// staying constant, gray and RGB paths agreeing channel by channel, and argument checks.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "media/image_resize.h"
#include "media_test_util.h"

namespace omnitune {
namespace {

Image gray_image(int w, int h, std::vector<uint8_t> pixels) {
  Image img = make_image(w, h, 1);
  img.pixels = std::move(pixels);
  return img;
}

// Runs every test body once with the AVX2 kernels (where the CPU has them) and once portable.
class ResizeBilinear : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { media_detail::set_resize_avx2_allowed(GetParam()); }
  void TearDown() override { media_detail::set_resize_avx2_allowed(true); }
};

TEST_P(ResizeBilinear, MatchesPillowOnSmallCases) {
  const Image row = gray_image(5, 1, {0, 50, 100, 150, 255});
  EXPECT_EQ(resize_bilinear(row, 2, 1).pixels, (std::vector<uint8_t>{50, 167}));
  EXPECT_EQ(resize_bilinear(row, 3, 1).pixels, (std::vector<uint8_t>{21, 100, 210}));
  EXPECT_EQ(resize_bilinear(row, 8, 1).pixels,
            (std::vector<uint8_t>{0, 22, 53, 84, 116, 147, 209, 255}));
  EXPECT_EQ(resize_bilinear(row, 1, 1).pixels, (std::vector<uint8_t>{109}));
  EXPECT_EQ(resize_bilinear(row, 5, 3).pixels,
            (std::vector<uint8_t>{0, 50, 100, 150, 255, 0, 50, 100, 150, 255, 0, 50, 100, 150, 255}));

  const Image grid = gray_image(4, 3, {10, 200, 30, 40, 250, 60, 70, 0, 90, 100, 255, 120});
  EXPECT_EQ(resize_bilinear(grid, 3, 5).pixels,
            (std::vector<uint8_t>{67, 115, 37, 117, 95, 31, 193, 65, 21, 133, 133, 104, 93, 178, 160}));
  EXPECT_EQ(resize_bilinear(grid, 2, 2).pixels, (std::vector<uint8_t>{112, 52, 127, 124}));
  EXPECT_EQ(resize_bilinear(grid, 7, 2).pixels,
            (std::vector<uint8_t>{100, 117, 144, 96, 44, 32, 25, 150, 127, 90, 136, 178, 114, 75}));
  EXPECT_EQ(resize_bilinear(grid, 1, 1).pixels, (std::vector<uint8_t>{103}));

  Image rgb = make_image(2, 2, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  EXPECT_EQ(resize_bilinear(rgb, 3, 3).pixels,
            (std::vector<uint8_t>{255, 0,   0,   128, 128, 0,   0,   255, 0,   128, 0,   128, 128, 128,
                                  128, 128, 255, 128, 0,   0,   255, 128, 128, 255, 255, 255, 255}));
}

TEST_P(ResizeBilinear, SameSizeIsACopy) {
  const Image img = media_test::synthetic_image(31, 17, 3);
  const Image out = resize_bilinear(img, 31, 17);
  EXPECT_EQ(out.width, 31);
  EXPECT_EQ(out.height, 17);
  EXPECT_EQ(out.pixels, img.pixels);
}

TEST_P(ResizeBilinear, ConstantImagesStayConstant) {
  for (int value : {0, 1, 128, 254, 255}) {
    Image img = make_image(37, 23, 3);
    std::fill(img.pixels.begin(), img.pixels.end(), static_cast<uint8_t>(value));
    for (auto [w, h] : {std::pair{896, 896}, {768, 768}, {5, 3}, {1, 1}, {37, 100}, {200, 23}}) {
      const Image out = resize_bilinear(img, w, h);
      ASSERT_EQ(out.pixels.size(), static_cast<size_t>(w) * h * 3);
      for (uint8_t v : out.pixels) ASSERT_EQ(v, value) << w << "x" << h;
    }
  }
}

TEST_P(ResizeBilinear, GrayAndRgbPathsAgreePerChannel) {
  const Image gray = media_test::synthetic_image(181, 217, 1, 7);
  const Image rgb = to_rgb(gray);
  for (auto [w, h] : {std::pair{896, 896}, {64, 48}, {300, 100}, {90, 500}}) {
    const Image g = resize_bilinear(gray, w, h);
    const Image c = resize_bilinear(rgb, w, h);
    EXPECT_EQ(c.pixels, to_rgb(g).pixels) << w << "x" << h;
  }
}

TEST_P(ResizeBilinear, RejectsEmptyTargets) {
  const Image img = media_test::synthetic_image(4, 4, 1);
  EXPECT_THROW(resize_bilinear(img, 0, 4), Error);
  EXPECT_THROW(resize_bilinear(img, 4, -1), Error);
}

TEST_P(ResizeBilinear, StrongDownscalesUseWideWindows) {
  // 2000 -> 9 is a 222x reduction: windows of ~445 taps take the wide vertical kernel. Every
  // output is then an average over a band of a linear ramp, so it must sit near the band centre.
  Image ramp = make_image(3, 2000, 1);
  for (int y = 0; y < 2000; ++y) {
    for (int x = 0; x < 3; ++x) ramp.pixels[y * 3 + x] = static_cast<uint8_t>(y * 255 / 1999);
  }
  const Image out = resize_bilinear(ramp, 3, 9);
  for (int y = 0; y < 9; ++y) {
    const double centre = ((y + 0.5) * 2000.0 / 9) * 255 / 1999;
    EXPECT_NEAR(out.pixels[y * 3], centre, 8.0) << y;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, ResizeBilinear, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Avx2IfAvailable" : "Portable";
                         });

}  // namespace
}  // namespace omnitune
