// MatFormer sub-model extraction on the Gemma 3n fixture: an unchanged spec reproduces the logits
// exactly; slicing the MLP widths of the dense layers equals the original model with those units
// zeroed; dropping a KV-shared layer gives a smaller model that loads (its config edited, its PLE
// tables narrowed) and runs; dropping a layer others read K/V from, over-wide specs and the e2b
// preset on a non-E4B checkpoint are clear errors.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/safetensors.h"
#include "model/gemma3n_model.h"
#include "model/gemma3n_submodel.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "../test_util.h"

using namespace omnitune;
namespace fs = std::filesystem;

namespace {

std::string fixture_dir() { return test_util::fixture("gemma3n-tiny-ref-small", ""); }

std::unique_ptr<Gemma3nModel> load(const std::string& dir) {
  auto m = gemma3n_model_for_checkpoint(dir);
  ParamList p = m->params();
  HfLoadOptions o;
  o.dtype = at::kFloat;
  o.zero_copy = false;
  gemma3n_load_weights(dir, *m, p, o);
  return m;
}

at::Tensor text_logits(const Gemma3nModel& m) {
  at::NoGradGuard ng;
  Gemma3nInputs in;
  in.input_ids = safetensors_read(SafetensorsFile::open(fixture_dir() + "reference.safetensors"), "text.input_ids");
  return m.forward_logits(in);
}

struct TmpDir {
  std::string path = (fs::temp_directory_path() / ("omnitune-submodel-" + std::to_string(::getpid()))).string();
  ~TmpDir() { fs::remove_all(path); }
};

}  // namespace

TEST(Gemma3nSubmodel, UnchangedSpecReproducesTheLogits) {
  TmpDir out;
  const auto rep = gemma3n_extract_submodel(fixture_dir(), out.path, Gemma3nSubmodelSpec{}, 1 << 20);
  EXPECT_EQ(rep.layers_out, 8);
  EXPECT_EQ(rep.bytes_in, rep.bytes_out);
  EXPECT_TRUE(fs::exists(fs::path(out.path) / "model.safetensors.index.json"));  // 1 MiB shards
  EXPECT_TRUE(at::equal(text_logits(*load(out.path)), text_logits(*load(fixture_dir()))));
}

TEST(Gemma3nSubmodel, SlicedWidthsEqualTheOriginalWithThoseUnitsZeroed) {
  TmpDir out;
  // Layers 0 and 1 are sparse (their cutoff depends on every unit): kept whole; the rest to 64.
  gemma3n_extract_submodel(fixture_dir(), out.path, gemma3n_submodel_spec_parse("ffn=128,96,64,64,64,64,64,64"), 1 << 30);
  EXPECT_EQ(gemma3n_config_load(out.path).text.intermediate_size,
            (std::vector<int64_t>{128, 96, 64, 64, 64, 64, 64, 64}));
  auto ref = load(fixture_dir());
  {
    at::NoGradGuard ng;
    for (size_t i = 2; i < ref->text().layers().size(); ++i) {
      Gemma3nMlp& mlp = ref->text().layers()[i]->mlp;
      auto* gate = dynamic_cast<DenseLinear*>(mlp.gate_proj.get());
      auto* up = dynamic_cast<DenseLinear*>(mlp.up_proj.get());
      gate->weight.narrow(0, 64, gate->weight.size(0) - 64).zero_();
      up->weight.narrow(0, 64, up->weight.size(0) - 64).zero_();
    }
  }
  const double d = (text_logits(*load(out.path)) - text_logits(*ref)).abs().max().item<double>();
  EXPECT_LT(d, 1e-5);
}

TEST(Gemma3nSubmodel, DroppingAKvSharedLayerGivesASmallerModelThatRuns) {
  TmpDir out;
  const auto rep = gemma3n_extract_submodel(fixture_dir(), out.path, gemma3n_submodel_spec_parse("skip=6;ffn=64"), 1 << 30);
  EXPECT_EQ(rep.layers_out, 7);
  EXPECT_LT(rep.bytes_out, rep.bytes_in);
  const Gemma3nConfig c = gemma3n_config_load(out.path);
  EXPECT_EQ(c.text.num_hidden_layers, 7);
  EXPECT_EQ(c.text.num_kv_shared_layers, 2);
  EXPECT_EQ(c.text.layer_is_sliding, (std::vector<bool>{true, true, true, false, true, true, false}));
  EXPECT_EQ(hf_checkpoint_shapes(out.path).at("model.language_model.embed_tokens_per_layer.weight"),
            (std::vector<int64_t>{256, 7 * 8}));
  const at::Tensor logits = text_logits(*load(out.path));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 20, 288}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
}

TEST(Gemma3nSubmodel, InvalidSpecsAreClearErrors) {
  TmpDir out;
  auto err = [&](const std::string& spec) {
    return test_util::error_of([&] { gemma3n_extract_submodel(fixture_dir(), out.path, gemma3n_submodel_spec_parse(spec), 1 << 30); });
  };
  EXPECT_NE(err("skip=4").find("KV-shared layers read its keys"), std::string::npos);
  EXPECT_NE(err("ffn=200").find("keeps 1..128"), std::string::npos);
  EXPECT_NE(err("ffn=64,64").find("2 widths for 8 kept layers"), std::string::npos);
  EXPECT_NE(err("e2b").find("E4B checkpoint"), std::string::npos);
  EXPECT_NE(err("width=3").find("unknown part 'width'"), std::string::npos);
  EXPECT_NE(err("skip=a").find("not an integer"), std::string::npos);
}

// The random-init layout generator reproduces the fixture's tower (timm at channel multiplier
// 0.0625) tensor for tensor, shape for shape.
TEST(MobileNetV5Layout, GeneratedShapesEqualTheFixtureCheckpoint) {
  const std::string prefix = "model.vision_tower.timm_model";
  TensorShapes want;
  for (const auto& [name, shape] : hf_checkpoint_shapes(fixture_dir()))
    if (name.rfind(prefix, 0) == 0) want[name] = shape;
  const Gemma3nConfig c = gemma3n_config_load(fixture_dir());
  EXPECT_DOUBLE_EQ(c.vision.channel_multiplier, 0.0625);
  const TensorShapes got = mobilenet_v5_300m_layout(prefix, c.vision.channel_multiplier);
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [name, shape] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << name;
    EXPECT_EQ(it->second, shape) << name;
  }
}
