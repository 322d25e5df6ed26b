// The image processor's settings and last step: what a shard records as its rescale factor and
// how uint8 pixels become model inputs.
#include <gtest/gtest.h>

#include "media/image_processor.h"

using namespace omnitune;

// do_rescale false: the shard records 1 (not the file's unused rescale_factor), so the loader's
// v * factor matches the processor's own output.
TEST(ImageProcessor, EffectiveRescaleIsOneWithoutRescale) {
  ImageProcessorConfig on = image_processor_parse(R"({"do_rescale": true, "rescale_factor": 0.00392156862745098})", "t");
  ImageProcessorConfig off = image_processor_parse(R"({"do_rescale": false, "rescale_factor": 0.00392156862745098,
                                                       "do_normalize": false})", "t");
  EXPECT_DOUBLE_EQ(image_processor_effective_rescale(on), 1.0 / 255.0);
  EXPECT_DOUBLE_EQ(image_processor_effective_rescale(off), 1.0);
  const uint8_t rgb[3] = {0, 128, 255};
  const std::vector<float> a = image_processor_normalize(rgb, 1, 1, off);
  ASSERT_EQ(a.size(), 3u);
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(a[c], float(rgb[c] * image_processor_effective_rescale(off)));
  const std::vector<float> b = image_processor_normalize(rgb, 1, 1, on);  // Gemma 3: (v / 255 - 0.5) / 0.5
  EXPECT_FLOAT_EQ(b[0], -1.0f);
  EXPECT_FLOAT_EQ(b[2], 1.0f);
}
