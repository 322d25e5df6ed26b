// Gemma 3n text decoder against the fixture reference (tests/fixtures/gemma3n-tiny-ref-small: a tiny
// random-weight Gemma 3n and outputs of Hugging Face transformers' own Gemma 3n code): text logits
// of a batch longer than the sliding window, the AltUp streams after every layer, greedy decoding
// on the KV cache (ids and per-step logits, hard audio-vocabulary ids fed back through the audio
// embedder), the full forward over the greedy sequence, the audio encoder's frames and padding
// mask and the audio embedder's soft tokens, the MobileNetV5 features (layout read from the
// weights) and the vision embedder's soft tokens, and the logits of a prompt mixing audio and image
// soft tokens with hard vision/audio ids, all within 1e-4 in fp32; and generate() on Gemma 3n. The reference's
// KV-shared numbers are its cache-on ones (its no-cache path does not share: gemma-spec D.4).
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "generate/generator.h"
#include "model/gemma3n_model.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "model_test_util.h"
#include "../test_util.h"

using namespace omnitune;
using omnitune::test_util::max_diff;
using omnitune::test_util::fixture;
using omnitune::test_util::fixture_present;

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

struct Fixture {
  Gemma3nConfig cfg;
  std::unique_ptr<Gemma3nModel> model;
  std::unique_ptr<SafetensorsFile> ref;
  HfLoadReport report;

  Fixture() {
    const std::string dir = fixture("gemma3n-tiny-ref-small", "");
    EXPECT_TRUE(fixture_present(dir + "config.json"));
    cfg = gemma3n_config_load(dir);
    const TensorShapes layout = hf_checkpoint_shapes(dir);
    model = std::make_unique<Gemma3nModel>(cfg, dense_linear_factory(), &layout);
    ParamList p = model->params();
    HfLoadOptions o;
    o.dtype = at::kFloat;
    o.known_unused = [this](const std::string& n) { return model->unused_checkpoint_tensor(n); };
    report = hf_load_checkpoint(dir, p, o);
    ref = std::make_unique<SafetensorsFile>(SafetensorsFile::open(dir + "reference.safetensors"));
  }
  at::Tensor r(const std::string& name) const { return safetensors_read(*ref, name); }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

}  // namespace

TEST(Gemma3nModel, KvSharedLayersOwnNoCacheAndTheirCheckpointProjectionsAreIgnored) {
  const Gemma3nTextModel& t = fx().model->text();
  // 8 layers, the last 3 KV-shared: sliding consumers 5, 6 read layer 4; full consumer 7 reads 3.
  EXPECT_EQ(t.cache_windows().size(), 5u);
  std::vector<int64_t> sources;
  for (auto& L : const_cast<Gemma3nTextModel&>(t).layers()) sources.push_back(L->self_attn.kv_source);
  EXPECT_EQ(sources, (std::vector<int64_t>{-1, -1, -1, -1, -1, 4, 4, 3}));
  int64_t shared_kv = 0;
  for (const auto& n : fx().report.ignored)
    if (starts_with(n, "model.language_model.")) ++shared_kv;
  EXPECT_EQ(shared_kv, 9);  // k_proj, v_proj, k_norm of layers 5, 6, 7
}

TEST(Gemma3nParity, TextLogitsMatchReference) {
  at::NoGradGuard ng;
  Gemma3nInputs in;
  in.input_ids = fx().r("text.input_ids");
  const double d = max_diff(fx().model->forward_logits(in), fx().r("text.logits"));
  EXPECT_LT(d, 1e-4);
  std::printf("text logits: max |diff| %.3g\n", d);
}

TEST(Gemma3nParity, AltUpStreamsAfterEveryLayerMatchReference) {
  at::NoGradGuard ng;
  Gemma3nInputs in;
  in.input_ids = fx().r("text.input_ids");
  std::vector<at::Tensor> streams;
  fx().model->forward_hidden(in, nullptr, &streams);
  ASSERT_EQ(streams.size(), 9u);
  for (size_t i = 0; i < streams.size(); ++i)
    EXPECT_LT(max_diff(streams[i], fx().r("text.hidden_states." + std::to_string(i))), 1e-4) << "streams " << i;
}

TEST(Gemma3nParity, GreedyDecodeOnTheCacheMatchesReference) {
  at::NoGradGuard ng;
  const at::Tensor prompt = fx().r("text.input_ids"), want = fx().r("text.greedy_ids");
  const int64_t B = prompt.size(0), T = prompt.size(1), steps = want.size(1) - T;
  KVCache cache = fx().model->make_cache(B, want.size(1) + 1);
  Gemma3nInputs in;
  in.input_ids = prompt;
  // The reference's decode logits are those of each decode step: feeding generated token s gives
  // the logits at position T + s.
  at::Tensor last = fx().model->forward_logits(in, &cache).select(1, T - 1);
  std::vector<at::Tensor> step_logits;
  at::Tensor ids = prompt;
  for (int64_t s = 0; s < steps; ++s) {
    at::Tensor next = std::get<1>(last.max(-1)).unsqueeze(1);
    ids = at::cat({ids, next}, 1);
    in.input_ids = next;
    last = fx().model->forward_logits(in, &cache).select(1, 0);
    step_logits.push_back(last);
  }
  EXPECT_TRUE(at::equal(ids, want)) << ids << want;
  EXPECT_LT(max_diff(at::stack(step_logits, 1), fx().r("text.decode_logits")), 1e-4);
}

TEST(Gemma3nParity, FullForwardOverTheGreedySequenceMatchesReference) {
  at::NoGradGuard ng;
  Gemma3nInputs in;
  const at::Tensor g = fx().r("text.greedy_ids");
  in.input_ids = g.narrow(1, 0, g.size(1) - 1);
  EXPECT_LT(max_diff(fx().model->forward_logits(in), fx().r("text.full_logits_of_greedy")), 1e-4);
}

TEST(Gemma3nParity, AudioEncoderFramesAndMaskMatchReference) {
  at::NoGradGuard ng;
  const at::Tensor pad = fx().r("audio.input_features_mask").logical_not();
  Gemma3nAudioEncoder::Output enc = fx().model->audio().forward(fx().r("audio.input_features"), pad);
  EXPECT_TRUE(at::equal(enc.pad, fx().r("audio.encoder_mask"))) << enc.pad;
  const double d = max_diff(enc.hidden, fx().r("audio.encoder_last_hidden_state"));
  EXPECT_LT(d, 1e-4);
  EXPECT_LT(max_diff(fx().model->embed_audio().soft(enc.hidden), fx().r("audio.embedded")), 1e-4);
  std::printf("audio encoder: max |diff| %.3g\n", d);
}

TEST(Gemma3nParity, VisionTowerFeaturesAndSoftTokensMatchReference) {
  at::NoGradGuard ng;
  ASSERT_NE(fx().model->vision(), nullptr);
  std::printf("vision tower: %s\n", fx().model->vision()->describe().c_str());
  const at::Tensor px = fx().r("vision.pixel_values");
  // HF scales the tower's output by sqrt(C) in place before embedding it, so the recorded tensor
  // carries that factor: compare our tower's output with the recorded one divided by it.
  const double c = std::sqrt(double(fx().cfg.vision.hidden_size));
  const double d = max_diff(fx().model->vision()->forward(px), fx().r("vision.encoder_last_hidden_state") / c);
  EXPECT_LT(d, 1e-4);
  EXPECT_LT(max_diff(fx().model->image_soft_tokens(px), fx().r("vision.embedded")), 1e-4);
  std::printf("vision features: max |diff| %.3g\n", d);
}

TEST(Gemma3nParity, MultimodalPromptLogitsMatchReference) {
  at::NoGradGuard ng;
  Gemma3nInputs in;
  in.input_ids = fx().r("mm.input_ids");
  in.pixel_values = fx().r("vision.pixel_values");
  in.audio_features = fx().r("audio.input_features");
  in.audio_pad = fx().r("audio.input_features_mask").logical_not();
  const double d = max_diff(fx().model->forward_logits(in), fx().r("mm.logits"));
  EXPECT_LT(d, 1e-4);
  std::printf("multimodal logits: max |diff| %.3g\n", d);
}

TEST(Gemma3nModel, PromptAndSoftTokenCountsMustAgree) {
  at::NoGradGuard ng;
  Gemma3nInputs in;
  in.input_ids = fx().r("mm.input_ids").narrow(1, 0, 20);  // cuts the image's soft tokens short
  in.pixel_values = fx().r("vision.pixel_values");
  const std::string e = omnitune::test_util::error_of([&] { fx().model->forward_logits(in); });
  EXPECT_NE(e.find("image soft tokens"), std::string::npos) << e;
}

// generate() (the loop omnitune-generate runs) on Gemma 3n: KV-shared layers decode from their
// source layer's cache, left padding and prompts with audio and images.
TEST(Gemma3nGenerate, GreedyTokensMatchReferenceWithAndWithoutCache) {
  at::NoGradGuard ng;
  GenerateRequest req;
  req.input_ids = fx().r("text.input_ids");
  req.max_new_tokens = 4;
  const at::Tensor want = fx().r("text.greedy_ids").narrow(1, req.input_ids.size(1), 4);
  EXPECT_TRUE(at::equal(generate(*fx().model, req, SamplingOptions{}).tokens, want));
  req.use_cache = false;
  EXPECT_TRUE(at::equal(generate(*fx().model, req, SamplingOptions{}).tokens, want));
}

TEST(Gemma3nGenerate, LeftPaddedRowDecodesLikeThePromptAlone) {
  at::NoGradGuard ng;
  const at::Tensor prompts = fx().r("text.input_ids");
  GenerateRequest alone;
  alone.input_ids = prompts.narrow(0, 0, 1).narrow(1, 0, 14);  // a shorter first prompt
  alone.max_new_tokens = 5;
  const at::Tensor want0 = generate(*fx().model, alone, SamplingOptions{}).tokens;
  GenerateRequest batch;
  batch.input_ids = prompts.clone();
  batch.input_ids.select(0, 0).narrow(0, 0, 6).fill_(0);
  batch.input_ids.select(0, 0).narrow(0, 6, 14).copy_(prompts.select(0, 0).narrow(0, 0, 14));
  batch.attention_mask = at::ones_like(prompts);
  batch.attention_mask.select(0, 0).narrow(0, 0, 6).fill_(0);
  batch.max_new_tokens = 5;
  const at::Tensor got = generate(*fx().model, batch, SamplingOptions{}).tokens;
  EXPECT_TRUE(at::equal(got.narrow(0, 0, 1), want0)) << got << want0;
  alone.input_ids = prompts.narrow(0, 1, 1);
  EXPECT_TRUE(at::equal(got.narrow(0, 1, 1), generate(*fx().model, alone, SamplingOptions{}).tokens));
}

TEST(Gemma3nGenerate, AudioAndImagePromptDecodesTheSameWithAndWithoutCache) {
  at::NoGradGuard ng;
  GenerateRequest req;
  req.input_ids = fx().r("mm.input_ids");
  req.pixel_values = fx().r("vision.pixel_values");
  req.audio_features = fx().r("audio.input_features");
  req.audio_pad = fx().r("audio.input_features_mask").logical_not();
  req.max_new_tokens = 4;
  const GenerateResult cached = generate(*fx().model, req, SamplingOptions{});
  // The first token is the argmax of the reference's last-position logits.
  EXPECT_EQ(cached.tokens[0][0].item<int64_t>(), std::get<1>(fx().r("mm.logits").select(1, 27).max(-1)).item<int64_t>());
  req.use_cache = false;
  EXPECT_TRUE(at::equal(generate(*fx().model, req, SamplingOptions{}).tokens, cached.tokens));
}
