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
  // Estimated from the average length: 4 sequences of 25 tokens; in a window of 8 the first 8
  // queries see 1..8 keys and the other 17 see 8 each: 36 + 136 = 172 pairs per sequence.
  const double attn = 2 * 12.0 * 4 * 16 * 4 * 172;
  EXPECT_DOUBLE_EQ(train_step_flops(c, {100, 4, 0, false}), 6 * lm * 100 + attn);
  EXPECT_DOUBLE_EQ(train_step_flops(c, {100, 4, 0, false, false}), 4 * lm * 100 + attn);  // LoRA
  EXPECT_GT(measure_matmul_flops(at::kFloat, 128), 1e6);
  EXPECT_GT(peak_rss_bytes(), 1 << 20);
}

// Causal pairs: n(n+1)/2 without a window; with window w the first w queries see 1..w keys and
// the rest w each.
TEST(Flops, CausalAttentionPairs) {
  EXPECT_DOUBLE_EQ(causal_attention_pairs(5, 0), 15);
  EXPECT_DOUBLE_EQ(causal_attention_pairs(5, 8), 15);
  EXPECT_DOUBLE_EQ(causal_attention_pairs(10, 4), 1 + 2 + 3 + 4 + 6 * 4);
  EXPECT_DOUBLE_EQ(causal_attention_pairs(0, 4), 0);
}

// Exact per-sequence pairs: a batch of lengths 4 and 46 does more attention work than two
// sequences of the average length 25 (what the estimate assumes), and the exact count is what the
// step's FLOPs use.
TEST(Flops, MixedLengthsUseExactPairs) {
  const Gemma3Config c = gemma3_config_parse(gemma3_preset_config_json("tiny"), "tiny");
  const int64_t w = c.text.sliding_window;
  StepShape mixed{50, 2, 0, false};
  mixed.pairs_global = causal_attention_pairs(4, 0) + causal_attention_pairs(46, 0);
  mixed.pairs_sliding = causal_attention_pairs(4, w) + causal_attention_pairs(46, w);
  StepShape avg{50, 2, 0, false};  // estimated: 2 sequences of 25
  const double block = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128;
  const double lm = 2 * block + 64 * 512;
  double attn = 0;
  for (int64_t l = 0; l < c.text.num_hidden_layers; ++l)
    attn += 12.0 * 4 * 16 * (c.text.layer_is_sliding[l] ? mixed.pairs_sliding : mixed.pairs_global);
  EXPECT_DOUBLE_EQ(train_step_flops(c, mixed), 6 * lm * 50 + attn);
  EXPECT_DOUBLE_EQ(train_step_flops(c, avg),
                   6 * lm * 50 + c.text.num_hidden_layers * 12.0 * 4 * 16 * 2 * causal_attention_pairs(25, w));
  EXPECT_GT(train_step_flops(c, mixed), train_step_flops(c, avg));
}
