// Export round trips (issue 6): a LoRA run trained on a DP mesh exports (a) a PEFT adapter with
// PEFT's key names and config, (b) merged full weights equal to W + alpha/r * B A, and an SFT run
// exports (c) a Hugging Face directory that omnitune's own loader reads back bit-equal (bf16).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "../unit/test_util.h"
#include "parallel_harness.h"
#include "train/export.h"

using namespace omnitune;
using namespace omnitune::ptest;
namespace fs = std::filesystem;

namespace {

// A base model directory (config.json + weights + tokenizer) for export to copy side files from.
std::string base_dir(const Gemma3Config& cfg, const std::map<std::string, at::Tensor>& w) {
  auto world = MpiComm::world();
  const std::string d = std::string(OMNITUNE_BINARY_DIR) + "/test-tmp/export-base-np" + std::to_string(world->size());
  if (world->rank() == 0) {
    fs::remove_all(d);
    fs::create_directories(d);
    fs::copy_file(omnitune::test_util::fixture("gemma3-tokenizer", "tokenizer.model"),
                  d + "/tokenizer.model");
    std::ofstream(d + "/config.json") << gemma3_preset_config_json("tiny-vlm");
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (const auto& [n, t] : w)
      if (!is_lora_param(n)) named.emplace_back(n, t);
    safetensors_write(d + "/model.safetensors", named);
  }
  world->barrier();
  return d;
}

int world_size() {
  static const int n = [] {
    int s = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
  }();
  return n;
}

// Not MpiComm::world(): that duplicates the communicator (a collective), and only rank 0 checks.
std::string out_dir(const std::string& name) {
  return std::string(OMNITUNE_BINARY_DIR) + "/test-tmp/export-" + name + "-np" + std::to_string(world_size());
}

}  // namespace

TEST(Export, LoraAdapterAndMergedWeights) {
  auto world = MpiComm::world();
  const Gemma3Config cfg = tiny_vlm();
  const auto weights = full_weights(cfg, 5, true);
  Variant v;
  v.lora = true;
  v.lr = 1e-2;
  v.steps = 2;
  v.trainable = [](const std::string& n) { return is_lora_param(n); };
  TestRun run(*world, world->size(), 1, v, weights, cfg);
  for (int s = 0; s < v.steps; ++s) run.step(s);
  std::map<std::string, at::Tensor> trained;
  run.engine().for_each_full_param(false, [&](const std::string& n, const at::Tensor& t) { trained[n] = t; });

  TrainSettings t;
  t.model_path = base_dir(cfg, weights);
  t.peft.method = "lora";
  t.peft.lora.rank = 4;  // as the harness's with_lora()
  t.peft.lora.alpha = 8;
  ExportOptions eo;
  eo.format = "peft";
  eo.dtype = at::kFloat;
  export_model(run.engine(), t, eo, out_dir("peft"), *world);
  eo.format = "merged";
  export_model(run.engine(), t, eo, out_dir("merged"), *world);
  if (world->rank() != 0) return;

  // PEFT layout: keys, values, config.
  SafetensorsFile a = SafetensorsFile::open(out_dir("peft") + "/adapter_model.safetensors");
  int adapters = 0;
  for (const auto& [n, tensor] : trained) {
    if (!is_lora_param(n)) continue;
    ++adapters;
    EXPECT_TRUE(at::equal(safetensors_read(a, "base_model.model." + n), tensor)) << n;
  }
  EXPECT_EQ(static_cast<int>(a.size()), adapters);
  const auto c = nlohmann::json::parse(std::ifstream(out_dir("peft") + "/adapter_config.json"));
  EXPECT_EQ(c.at("peft_type"), "LORA");
  EXPECT_EQ(c.at("r"), 4);
  EXPECT_DOUBLE_EQ(c.at("lora_alpha").get<double>(), 8.0);
  const std::string targets = c.at("target_modules");
  EXPECT_NE(targets.find("model\\.language_model\\.layers\\.0\\.self_attn\\.q_proj"), std::string::npos);
  EXPECT_EQ(targets.find("vision_tower"), std::string::npos);
  EXPECT_FALSE(fs::exists(out_dir("peft") + "/config.json"));
  EXPECT_TRUE(fs::exists(out_dir("peft") + "/tokenizer.model"));

  // Merged: W + (alpha / r) B A for adapted modules, other tensors unchanged, no adapter keys.
  SafetensorsFile m = SafetensorsFile::open(out_dir("merged") + "/model.safetensors");
  const std::string q = "model.language_model.layers.1.self_attn.q_proj";
  at::Tensor want = trained.at(q + ".weight") + 2.0 * at::matmul(trained.at(q + ".lora_B.weight"), trained.at(q + ".lora_A.weight"));
  EXPECT_TRUE(at::allclose(safetensors_read(m, q + ".weight"), want, 1e-6, 1e-6));
  EXPECT_FALSE(at::equal(want, trained.at(q + ".weight")));  // the adapter did change something
  const std::string norm = "model.language_model.layers.1.input_layernorm.weight";
  EXPECT_TRUE(at::equal(safetensors_read(m, norm), trained.at(norm)));
  for (const auto& n : m.names()) EXPECT_FALSE(is_lora_param(n)) << n;
}

TEST(Export, HfDirectoryRoundTrip) {
  auto world = MpiComm::world();
  const Gemma3Config cfg = tiny_vlm();
  const auto weights = full_weights(cfg, 6);
  Variant v;
  v.steps = 1;
  const int tp = world->size() >= 2 ? 2 : 1;
  TestRun run(*world, world->size() / tp, tp, v, weights, cfg);
  run.step(0);
  std::map<std::string, at::Tensor> trained;
  run.engine().for_each_full_param(false, [&](const std::string& n, const at::Tensor& t) { trained[n] = t; });
  TrainSettings t;
  t.model_path = base_dir(cfg, weights);
  ExportOptions eo;
  eo.format = "hf";
  eo.max_shard_bytes = 200 << 10;  // force several shards + an index
  export_model(run.engine(), t, eo, out_dir("hf"), *world);
  if (world->rank() != 0) return;
  EXPECT_TRUE(fs::exists(out_dir("hf") + "/model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(out_dir("hf") + "/config.json"));
  Gemma3Model back(gemma3_config_load(out_dir("hf")));
  ParamList p = back.params();
  HfLoadOptions lo;
  lo.dtype = at::kBFloat16;
  hf_load_checkpoint(out_dir("hf"), p, lo);
  for (auto& q : p) EXPECT_TRUE(at::equal(*q.tensor, trained.at(q.name).to(at::kBFloat16))) << q.name;
}
