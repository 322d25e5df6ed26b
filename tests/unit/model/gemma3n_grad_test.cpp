// Gemma 3n is differentiable end to end: on the fixture's audio + image prompt, a next-token loss
// gives every parameter a finite gradient (every part that the prompt uses a non-zero one), and the
// analytic gradients of entries in the text decoder (AltUp, Laurel, PLE, a KV-shared layer's
// query), the Conformer and the MobileNetV5 tower agree with central finite differences in float64.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "model/gemma3n_model.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "../test_util.h"

using namespace omnitune;

namespace {

struct Fixture {
  std::unique_ptr<Gemma3nModel> model;
  ParamList params;
  Gemma3nInputs in;

  Fixture() {
    const std::string dir = test_util::fixture("gemma3n-tiny-ref-small", "");
    const TensorShapes layout = hf_checkpoint_shapes(dir);
    model = std::make_unique<Gemma3nModel>(gemma3n_config_load(dir), dense_linear_factory(), &layout);
    params = model->params();
    HfLoadOptions o;
    o.dtype = at::kDouble;
    o.zero_copy = false;
    o.known_unused = [this](const std::string& n) { return model->unused_checkpoint_tensor(n); };
    hf_load_checkpoint(dir, params, o);
    for (auto& p : params) p.tensor->requires_grad_(true);
    SafetensorsFile ref = SafetensorsFile::open(dir + "reference.safetensors");
    in.input_ids = safetensors_read(ref, "mm.input_ids");
    in.pixel_values = safetensors_read(ref, "vision.pixel_values").to(at::kDouble);
    in.audio_features = safetensors_read(ref, "audio.input_features").to(at::kDouble);
    in.audio_pad = safetensors_read(ref, "audio.input_features_mask").logical_not();
  }

  // Mean next-token cross-entropy over the prompt.
  at::Tensor loss() const {
    at::Tensor logits = model->forward_logits(in);
    const int64_t T = logits.size(1);
    return at::cross_entropy_loss(logits.narrow(1, 0, T - 1).reshape({-1, logits.size(2)}),
                                  in.input_ids.narrow(1, 1, T - 1).reshape({-1}));
  }

  at::Tensor& param(const std::string& name) {
    for (auto& p : params)
      if (p.name == name) return *p.tensor;
    ADD_FAILURE() << "no parameter " << name;
    return *params.front().tensor;
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

}  // namespace

TEST(Gemma3nGrad, EveryParameterGetsAFiniteGradientAndEveryPartANonZeroOne) {
  for (auto& p : fx().params) p.tensor->mutable_grad() = at::Tensor();
  fx().loss().backward();
  std::map<std::string, double> part_norm;
  for (auto& p : fx().params) {
    const at::Tensor& g = p.tensor->grad();
    ASSERT_TRUE(g.defined()) << p.name << " got no gradient";
    EXPECT_TRUE(at::isfinite(g).all().item<bool>()) << p.name;
    const std::string part = p.name.substr(0, p.name.find('.', 6));  // model.language_model / audio_tower / ...
    part_norm[part] += g.pow(2).sum().item<double>();
  }
  for (const char* part : {"model.language_model", "model.audio_tower", "model.vision_tower", "model.embed_audio",
                           "model.embed_vision"})
    EXPECT_GT(part_norm[part], 0.0) << part;
}

TEST(Gemma3nGrad, AnalyticGradientsMatchFiniteDifferences) {
  const std::vector<std::pair<std::string, int64_t>> probes{
      {"model.language_model.layers.2.altup.prediction_coefs.weight", 5},
      {"model.language_model.layers.1.laurel.linear_left.weight", 17},
      {"model.language_model.per_layer_model_projection.weight", 40},
      {"model.language_model.layers.6.self_attn.q_proj.weight", 100},  // KV-shared layer
      {"model.language_model.layers.0.mlp.gate_proj.weight", 300},     // sparse layer
      {"model.audio_tower.conformer.0.attention.attn.per_dim_scale", 3},
      {"model.audio_tower.subsample_conv_projection.conv_0.conv.weight", 4},
      {"model.vision_tower.timm_model.blocks.2.9.attn.query.proj.weight", 50},
      {"model.embed_audio.embedding_projection.weight", 7},
  };
  for (auto& p : fx().params) p.tensor->mutable_grad() = at::Tensor();
  fx().loss().backward();
  at::NoGradGuard ng;
  const double h = 1e-6;
  for (const auto& [name, idx] : probes) {
    at::Tensor w = fx().param(name).view({-1});
    const double analytic = fx().param(name).grad().view({-1})[idx].item<double>();
    const double orig = w[idx].item<double>();
    w[idx].fill_(orig + h);
    const double up = fx().loss().item<double>();
    w[idx].fill_(orig - h);
    const double down = fx().loss().item<double>();
    w[idx].fill_(orig);
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-4 * std::abs(numeric)) << name << "[" << idx << "]";
  }
}
