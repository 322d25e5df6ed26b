// The MFU numerator (model FLOPs of a step) by hand, the matmul probe and peak RSS.
#include <gtest/gtest.h>

#include "model/gemma3_presets.h"
#include "train/flops.h"

using namespace omnitune;

// The MFU numerator by hand for the tiny preset (hidden 64, MLP 128, 2 sliding layers of window 8,
// 4 query / 2 KV heads of 16, vocab 512): 100 tokens in 4 sequences (25 tokens each).
TEST(Flops, HandComputedTinyModel) {
  const Gemma3Config c = gemma3_config_parse(gemma3_preset_config_json("tiny"), "tiny");
  ASSERT_TRUE(c.text.layer_is_sliding[0] && c.text.layer_is_sliding[1]);
  const double block = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128;  // 36864
  const double lm = 2 * block + 64 * 512;                               // 106496
  const double attn = 2 * 12.0 * 4 * 16 * 100 * 8;                     // keys = min(25 / 2, window 8)
  EXPECT_DOUBLE_EQ(train_step_flops(c, {100, 4, 0, false}), 6 * lm * 100 + attn);
  EXPECT_DOUBLE_EQ(train_step_flops(c, {100, 4, 0, false, false}), 4 * lm * 100 + attn);  // LoRA
  EXPECT_GT(measure_matmul_flops(at::kFloat, 128), 1e6);
  EXPECT_GT(peak_rss_bytes(), 1 << 20);
}
