// Generation paths of Gemma 3 on the fixture model: KV-cache decode equals full recompute (also
// through the sliding-window ring buffers: the fixture's window is 6, its prompt 24 tokens),
// batched left-padded prompts equal the unbatched ones, HF's sampling filters, stop tokens, and a
// checkpoint written by the safetensors writer reloads bit-exact.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "generate/generator.h"
#include "model/gemma3_model.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "../test_util.h"

using namespace omnitune;

namespace {

const std::string kDir = omnitune::test_util::fixture_dir("gemma3-tiny-ref");

struct Loaded {
  std::unique_ptr<Gemma3Model> model;
  std::unique_ptr<SafetensorsFile> ref;
  Loaded() {
    if (!std::filesystem::exists(kDir)) ADD_FAILURE() << "shared fixtures not found at " << kDir;
    model = std::make_unique<Gemma3Model>(gemma3_config_load(kDir));
    ParamList p = model->params();
    HfLoadOptions o;
    o.dtype = at::kFloat;
    hf_load_checkpoint(kDir, p, o);
    ref = std::make_unique<SafetensorsFile>(SafetensorsFile::open(kDir + "/reference.safetensors"));
  }
};

Loaded& L() {
  static Loaded l;
  return l;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST(Gemma3Generate, CachedDecodeStepsEqualFullRecompute) {
  at::NoGradGuard ng;
  Gemma3Model& m = *L().model;
  at::Tensor ids = safetensors_read(*L().ref, "input_ids");
  at::Tensor px = safetensors_read(*L().ref, "pixel_values");
  at::Tensor tt = safetensors_read(*L().ref, "token_type_ids");
  const int64_t T = ids.size(1), prefill = 14;  // the image (positions 7..10) is inside the prefill
  at::Tensor full = m.forward_logits({ids, px, tt, {}, {}});
  KVCache cache = m.make_cache(1, T);
  at::Tensor first = m.forward_logits({ids.narrow(1, 0, prefill), px, tt.narrow(1, 0, prefill), {}, {}}, &cache);
  EXPECT_LT(max_diff(first, full.narrow(1, 0, prefill)), 1e-4);
  for (int64_t t = prefill; t < T; ++t) {
    at::Tensor step = m.forward_logits({ids.narrow(1, t, 1), {}, {}, {}, {}}, &cache);
    EXPECT_LT(max_diff(step, full.narrow(1, t, 1)), 1e-4) << "position " << t;
  }
  EXPECT_EQ(cache.length(), T);
  // Sliding layers hold only `window` slots; the full layer holds all T.
  EXPECT_EQ(cache.layer(0).capacity, m.config().text.sliding_window);
  EXPECT_EQ(cache.layer(2).capacity, T);
}

TEST(Gemma3Generate, GreedyTokensWithCacheEqualRecomputeEverything) {
  at::NoGradGuard ng;
  GenerateRequest req;
  req.input_ids = safetensors_read(*L().ref, "text_input_ids");
  req.max_new_tokens = 12;
  GenerateResult cached = generate(*L().model, req, SamplingOptions{});
  req.use_cache = false;
  GenerateResult recomputed = generate(*L().model, req, SamplingOptions{});
  EXPECT_TRUE(cached.tokens.equal(recomputed.tokens)) << cached.tokens << recomputed.tokens;
  EXPECT_EQ(cached.lengths[0], 12);
}

TEST(Gemma3Generate, LeftPaddedBatchEqualsUnbatchedPrompts) {
  at::NoGradGuard ng;
  Gemma3Model& m = *L().model;
  at::Tensor text = safetensors_read(*L().ref, "text_input_ids");  // [1, 16]
  at::Tensor mm = safetensors_read(*L().ref, "input_ids");         // [1, 24]
  at::Tensor px = safetensors_read(*L().ref, "pixel_values");
  at::Tensor tt = safetensors_read(*L().ref, "token_type_ids");
  const int64_t pad = 8;
  at::Tensor ids = at::cat({at::cat({at::zeros({1, pad}, at::kLong), text}, 1), mm}, 0);
  at::Tensor mask = at::ones_like(ids);
  mask.narrow(1, 0, pad).select(0, 0).zero_();
  at::Tensor types = at::cat({at::zeros({1, 24}, at::kLong), tt}, 0);
  at::Tensor pos = (mask.cumsum(1) - 1).masked_fill(mask == 0, 1);
  at::Tensor batched = m.forward_logits({ids, px, types, mask, pos});
  at::Tensor alone_text = m.forward_logits({text, {}, {}, {}, {}});
  at::Tensor alone_mm = m.forward_logits({mm, px, tt, {}, {}});
  EXPECT_LT(max_diff(batched.select(0, 0).narrow(0, pad, 16), alone_text[0]), 1e-4);
  EXPECT_LT(max_diff(batched.select(0, 1), alone_mm[0]), 1e-4);
  EXPECT_FALSE(at::isnan(batched).any().item<bool>());

  // And generation over the padded batch gives each row what it gives alone.
  GenerateRequest req;
  req.input_ids = at::cat({ids.narrow(0, 0, 1), at::cat({at::zeros({1, pad}, at::kLong), text}, 1)}, 0);
  req.attention_mask = at::cat({mask.narrow(0, 0, 1), mask.narrow(0, 0, 1)}, 0);
  req.max_new_tokens = 6;
  GenerateResult both = generate(m, req, SamplingOptions{});
  GenerateRequest one;
  one.input_ids = text;
  one.max_new_tokens = 6;
  GenerateResult single = generate(m, one, SamplingOptions{});
  EXPECT_TRUE(both.tokens[0].equal(single.tokens[0]));
  EXPECT_TRUE(both.tokens[1].equal(single.tokens[0]));
}

TEST(Gemma3Generate, StopTokenEndsARowAndPadsTheRest) {
  at::NoGradGuard ng;
  GenerateRequest req;
  req.input_ids = safetensors_read(*L().ref, "text_input_ids");
  req.max_new_tokens = 8;
  GenerateResult free_run = generate(*L().model, req, SamplingOptions{});
  const int64_t first = free_run.tokens[0][0].item<int64_t>();
  req.stop_ids = {first};
  req.pad_id = 0;
  GenerateResult stopped = generate(*L().model, req, SamplingOptions{});
  EXPECT_EQ(stopped.lengths[0], 1);
  EXPECT_EQ(stopped.tokens[0][0].item<int64_t>(), first);
  EXPECT_EQ(stopped.tokens[0].narrow(0, 1, 7).abs().sum().item<int64_t>(), 0);
}

TEST(Sampler, TopKKeepsTiesAndTopPKeepsTheSmallestNucleus) {
  SamplingOptions o;
  o.greedy = false;
  o.top_k = 2;
  o.top_p = 1.0;
  Sampler k2(o);
  at::Tensor logits = at::tensor({1.0, 3.0, 2.0, 2.0, 0.5}, at::kFloat).unsqueeze(0);
  at::Tensor s = k2.filtered_scores(logits);
  // k-th largest is 2.0: both 2.0s are kept (ties), 1.0 and 0.5 removed.
  EXPECT_TRUE(at::isinf(s[0][0]).item<bool>());
  EXPECT_FALSE(at::isinf(s[0][2]).item<bool>());
  EXPECT_FALSE(at::isinf(s[0][3]).item<bool>());
  EXPECT_TRUE(at::isinf(s[0][4]).item<bool>());
  o.top_k = 0;
  o.top_p = 0.5;
  Sampler p(o);
  // probs of [ln 6, ln 3, ln 1]: 0.6, 0.3, 0.1 -> the 0.6 token alone covers p = 0.5.
  at::Tensor l2 = at::tensor({std::log(6.0), std::log(3.0), 0.0}, at::kFloat).unsqueeze(0);
  at::Tensor s2 = p.filtered_scores(l2);
  EXPECT_FALSE(at::isinf(s2[0][0]).item<bool>());
  EXPECT_TRUE(at::isinf(s2[0][1]).item<bool>());
  EXPECT_TRUE(at::isinf(s2[0][2]).item<bool>());
  o.temperature = 0.5;
  o.top_p = 1.0;
  Sampler t(o);
  EXPECT_LT(max_diff(t.filtered_scores(l2), l2 * 2.0), 1e-6);
  // Seeded sampling is reproducible.
  o = SamplingOptions{};
  o.greedy = false;
  o.seed = 7;
  Sampler a(o), b(o);
  at::Tensor big = at::randn({4, 50});
  EXPECT_TRUE(a.next(big).equal(b.next(big)));
}

TEST(Gemma3Checkpoint, WrittenWeightsReloadBitExactUnderNewKeyNames) {
  at::NoGradGuard ng;
  ParamList params = L().model->params();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& p : params) tensors.push_back({p.name, *p.tensor});
  const std::string dir = std::filesystem::temp_directory_path() / ("ot_gemma3_rt_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kDir + "/config.json", dir + "/config.json");
  safetensors_write(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  Gemma3Model again(gemma3_config_load(dir));
  ParamList p2 = again.params();
  HfLoadOptions o;
  o.dtype = at::kFloat;
  HfLoadReport rep = hf_load_checkpoint(dir, p2, o);
  EXPECT_EQ(rep.key_style, "transformers>=4.52");
  ASSERT_EQ(p2.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(p2[i].tensor->equal(*params[i].tensor)) << params[i].name;
  std::filesystem::remove_all(dir);
}

TEST(Gemma3Checkpoint, MissingAndUnexpectedTensorsAreListed) {
  ParamList params = L().model->params();
  const std::string dir = std::filesystem::temp_directory_path() / ("ot_gemma3_bad_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kDir + "/config.json", dir + "/config.json");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (size_t i = 1; i < params.size(); ++i) tensors.push_back({params[i].name, *params[i].tensor});
  tensors.push_back({"model.extra.weight", at::zeros({2})});
  safetensors_write(dir + "/model.safetensors", tensors);
  Gemma3Model m(gemma3_config_load(dir));
  ParamList p = m.params();
  try {
    hf_load_checkpoint(dir, p, HfLoadOptions{});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks 1 tensor(s)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(params[0].name), std::string::npos) << e.what();
  }
  // With the missing tensor back, the unexpected one is reported (or ignored when allowed).
  tensors.push_back({params[0].name, *params[0].tensor});
  safetensors_write(dir + "/model.safetensors", tensors);
  ParamList p3 = m.params();
  try {
    hf_load_checkpoint(dir, p3, HfLoadOptions{});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.extra.weight"), std::string::npos) << e.what();
  }
  HfLoadOptions allow;
  allow.allow_unexpected = true;
  ParamList p4 = m.params();
  EXPECT_EQ(hf_load_checkpoint(dir, p4, allow).ignored, (std::vector<std::string>{"model.extra.weight"}));
  std::filesystem::remove_all(dir);
}

TEST(Gemma3Batch, TwoImagesInOneRowAndARightPaddedTextRowEqualTheirUnbatchedForwards) {
  at::NoGradGuard ng;
  Gemma3Model& m = *L().model;
  const Gemma3Config& c = m.config();
  at::Tensor mm = safetensors_read(*L().ref, "input_ids");          // [1, 24], one image
  at::Tensor text = safetensors_read(*L().ref, "text_input_ids");   // [1, 16]
  at::Tensor px = safetensors_read(*L().ref, "pixel_values");       // [1, 3, 112, 112]
  // Append a second image block and some text: [\n\n, boi, soft x4, eoi, \n\n, 77, 230].
  std::vector<int64_t> extra{108, c.boi_token_id};
  for (int64_t i = 0; i < c.mm_tokens_per_image; ++i) extra.push_back(c.image_token_id);
  for (int64_t v : {c.eoi_token_id, int64_t{108}, int64_t{77}, int64_t{230}}) extra.push_back(v);
  at::Tensor two = at::cat({mm, at::tensor(extra, at::kLong).unsqueeze(0)}, 1);
  at::Tensor two_px = at::cat({px, px.flip({3})}, 0);  // the second image is the mirrored first
  at::Tensor two_tt = (two == c.image_token_id).to(at::kLong);
  const int64_t T = two.size(1);
  at::Tensor alone_two = m.forward_logits({two, two_px, two_tt, {}, {}});
  at::Tensor alone_text = m.forward_logits({text, {}, {}, {}, {}});
  // Batch: row 0 the two-image prompt, row 1 the text prompt right-padded (training layout).
  at::Tensor ids = at::zeros({2, T}, at::kLong), mask = at::zeros({2, T}, at::kLong);
  ids[0] = two[0];
  mask[0].fill_(1);
  ids[1].narrow(0, 0, 16).copy_(text[0]);
  mask[1].narrow(0, 0, 16).fill_(1);
  at::Tensor tt = (ids == c.image_token_id).to(at::kLong);
  at::Tensor batched = m.forward_logits({ids, two_px, tt, mask, {}});
  EXPECT_LT(max_diff(batched[0], alone_two[0]), 1e-4);
  EXPECT_LT(max_diff(batched[1].narrow(0, 0, 16), alone_text[0]), 1e-4);
  // The second image matters: with the first image twice, the tokens after it change.
  at::Tensor same_px = m.forward_logits({two, at::cat({px, px}, 0), two_tt, {}, {}});
  EXPECT_GT(max_diff(same_px[0].narrow(0, 24, T - 24), alone_two[0].narrow(0, 24, T - 24)), 1e-3);
  EXPECT_LT(max_diff(same_px[0].narrow(0, 0, 24), alone_two[0].narrow(0, 0, 24)), 1e-5);
  // A count of image tokens that does not match the images is a clear error.
  EXPECT_THROW(m.forward_logits({two, px, two_tt, {}, {}}), Error);
}
