// Writes a random-weight Gemma 3 checkpoint directory (config.json, model.safetensors,
// preprocessor_config.json) with the exact tensor shapes of a real model, for benchmarks of
// loading memory and speed where the real weights cannot be downloaded.
//   make_random_gemma3 --preset 4b|1b|bench-1024|tiny --out DIR [--dtype bfloat16|float32] [--seed S]
// Presets follow gemma-spec A.1 / B.1 (4b: hidden 2560, 34 layers, vocab 262208, SigLIP 27 layers).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "dist/runtime.h"
#include "model/gemma3_model.h"
#include "nn/tensor_io.h"

using namespace omnitune;

namespace {

std::string preset_config(const std::string& p) {
  if (p == "4b")
    return R"({"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","torch_dtype":"bfloat16",
      "text_config":{"model_type":"gemma3_text","hidden_size":2560,"intermediate_size":10240,"num_hidden_layers":34,
      "num_attention_heads":8,"num_key_value_heads":4,"head_dim":256,"sliding_window":1024,
      "rope_scaling":{"factor":8.0,"rope_type":"linear"}},
      "vision_config":{"model_type":"siglip_vision_model","hidden_size":1152,"image_size":896,"intermediate_size":4304,
      "num_attention_heads":16,"num_hidden_layers":27,"patch_size":14,"vision_use_head":false},
      "mm_tokens_per_image":256,"eos_token_id":[1,106]})";
  if (p == "1b")
    return R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","torch_dtype":"bfloat16",
      "hidden_size":1152,"intermediate_size":6912,"num_hidden_layers":26,"num_attention_heads":4,"num_key_value_heads":1,
      "head_dim":256,"sliding_window":512,"vocab_size":262144,"max_position_embeddings":32768})";
  if (p == "bench-1024")
    return R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","torch_dtype":"float32",
      "hidden_size":1024,"intermediate_size":4096,"num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":128,"sliding_window":512,"vocab_size":8192,"query_pre_attn_scalar":128})";
  if (p == "tiny")
    return R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","torch_dtype":"float32",
      "hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
      "head_dim":16,"sliding_window":8,"vocab_size":512,"query_pre_attn_scalar":16})";
  OT_FAIL("unknown preset '", p, "': use 4b, 1b, bench-1024 or tiny");
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime&, int ac, char** av) {
    std::string preset, out, dtype = "bfloat16";
    uint64_t seed = 1;
    for (int i = 1; i + 1 < ac; i += 2) {
      std::string f = av[i];
      if (f == "--preset") preset = av[i + 1];
      else if (f == "--out") out = av[i + 1];
      else if (f == "--dtype") dtype = av[i + 1];
      else if (f == "--seed") seed = std::stoull(av[i + 1]);
      else OT_FAIL("unknown option ", f);
    }
    OT_REQUIRE(!preset.empty() && !out.empty(), "usage: make_random_gemma3 --preset 4b|1b|bench-1024|tiny --out DIR");
    std::filesystem::create_directories(out);
    const std::string cfg_text = preset_config(preset);
    { std::ofstream(out + "/config.json") << cfg_text; }
    Gemma3Config cfg = gemma3_config_parse(cfg_text, preset);
    if (cfg.has_vision) {
      std::ofstream(out + "/preprocessor_config.json")
          << R"({"image_processor_type":"Gemma3ImageProcessor","size":{"height":)" << cfg.vision.image_size
          << R"(,"width":)" << cfg.vision.image_size
          << R"(},"resample":2,"do_rescale":true,"rescale_factor":0.00392156862745098,"do_normalize":true,)"
          << R"("image_mean":[0.5,0.5,0.5],"image_std":[0.5,0.5,0.5],"image_seq_length":)" << cfg.mm_tokens_per_image << "}";
    }
    Gemma3Model model(cfg);
    ParamList params = model.params();
    at::ScalarType dt = dtype == "float32" ? at::kFloat : at::kBFloat16;
    params_init_random(params, at::TensorOptions().dtype(dt), 0.02, seed);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (auto& p : params) tensors.push_back({p.name, *p.tensor});
    safetensors_write(out + "/model.safetensors", tensors, {{"format", "pt"}});
    std::printf("wrote %s: %s, %lld parameters (%s)\n", out.c_str(), gemma3_config_describe(cfg).c_str(),
                static_cast<long long>(params_numel(params)), dtype.c_str());
    return 0;
  });
}
