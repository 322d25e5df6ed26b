// omnitune-init-model: writes a random-weight Gemma 3 or Gemma 3n model directory (config.json,
// model.safetensors, preprocessor_config.json, and tokenizer.model when given) with the exact
// tensor shapes of a real model, or a tiny one sized to a tokenizer: benchmarks of loading memory
// and speed, and the tiny models the quickstart fine-tunes, where real weights cannot be downloaded.
//   omnitune-init-model --preset 4b|1b|bench-1024|tiny|tiny-vlm|small-vlm|tiny-3n|e2b|e4b --out DIR
//                       [--tokenizer tokenizer.model] [--dtype bfloat16|float32] [--seed S]
// Presets follow gemma-spec A.1 / B.1 (4b: hidden 2560, 34 layers, vocab 262208, SigLIP 27 layers)
// and D.1 (Gemma 3n: tiny-3n, e2b, e4b; model/gemma3n_presets.h).
// With --tokenizer, the vocabulary and the special ids (<start_of_image>, <end_of_image>,
// <image_soft_token>, <end_of_turn>, and for tiny-3n the audio ones) come from the tokenizer,
// which is copied into DIR. e2b/e4b keep the real vocabulary layout (its media ids lie past the
// SentencePiece pieces): the tokenizer is only copied.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/cli.h"
#include "core/error.h"
#include "dist/runtime.h"
#include "model/gemma3_model.h"
#include "model/gemma3_presets.h"
#include "model/gemma3n_presets.h"
#include "nn/tensor_io.h"
#include "tokenizer/sentencepiece.h"

#include <nlohmann/json.hpp>

using namespace omnitune;

namespace {

// Gemma 3n: tiny-3n sized to the tokenizer (when given), then the random-weight directory.
int init_gemma3n(const std::string& preset, const std::string& out, const std::string& tokenizer,
                 const std::string& dtype, uint64_t seed) {
  std::string cfg_text = gemma3n_preset_config_json(preset);
  if (!tokenizer.empty()) {
    if (preset == "tiny-3n") {
      SentencePiece sp(tokenizer);
      Gemma3nVocab v;
      v.size = sp.vocab_size();
      v.pad_id = sp.pad_id();
      v.eos_id = sp.eos_id();
      v.bos_id = sp.bos_id();
      v.name = tokenizer;
      v.id_of = [&sp](const std::string& piece) -> int64_t {
        const int32_t id = sp.piece_to_id(piece);
        return id == sp.unk_id() ? -1 : id;
      };
      cfg_text = gemma3n_config_for_vocab(cfg_text, v);
    }
    std::filesystem::copy_file(tokenizer, out + "/tokenizer.model", std::filesystem::copy_options::overwrite_existing);
  }
  const Gemma3nInitReport rep = gemma3n_write_random_model(out, cfg_text, gemma3n_preset_image_size(preset),
                                                           dtype == "float32" ? at::kFloat : at::kBFloat16, seed);
  std::printf("wrote %s: %s, %lld parameters (%s)\n", out.c_str(), rep.description.c_str(),
              static_cast<long long>(rep.parameters), dtype.c_str());
  return 0;
}

}  // namespace

constexpr const char* kUsage =
    "usage: omnitune-init-model --preset PRESET --out DIR [--tokenizer FILE] [--dtype bfloat16|float32] [--seed S]\n"
    "\n"
    "Writes a random-weight Gemma 3 or Gemma 3n model directory (config.json, model.safetensors,\n"
    "preprocessor_config.json) with the exact tensor shapes of the preset.\n"
    "\n"
    "  --preset PRESET   4b, 1b, bench-1024, tiny, tiny-vlm, small-vlm (Gemma 3); tiny-3n, e2b, e4b (Gemma 3n)\n"
    "  --out DIR         the model directory to write\n"
    "  --tokenizer FILE  size the vocabulary and special ids to this SentencePiece model (copied into DIR)\n"
    "  --dtype D         bfloat16 (default) or float32\n"
    "  --seed S          weight seed (default 1)\n"
    "  -h, --help        print this help and exit\n";

int main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::printf("%s", kUsage);
    return 0;
  }
  return run_main(argc, argv, [](MpiRuntime&, int ac, char** av) {
    std::string preset, out, dtype = "bfloat16", tokenizer;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < ac; i += 2) {
      std::string f = av[i];
      if (f == "--preset") preset = av[i + 1];
      else if (f == "--out") out = av[i + 1];
      else if (f == "--dtype") dtype = av[i + 1];
      else if (f == "--seed") seed = std::stoull(av[i + 1]);
      else if (f == "--tokenizer") tokenizer = av[i + 1];
      else OT_FAIL("unknown option ", f, " (omnitune-init-model --help lists them)");
    }
    OT_REQUIRE(ac % 2 == 1, "option ", av[ac - 1], " needs a value");
    OT_REQUIRE(!preset.empty() && !out.empty(),
               "usage: omnitune-init-model --preset 4b|1b|bench-1024|tiny|tiny-vlm|small-vlm|tiny-3n|e2b|e4b --out DIR "
               "[--tokenizer FILE] (--help for more)");
    OT_REQUIRE(dtype == "bfloat16" || dtype == "float32", "--dtype must be bfloat16 or float32, got ", dtype);
    std::filesystem::create_directories(out);
    if (gemma3n_is_preset(preset)) return init_gemma3n(preset, out, tokenizer, dtype, seed);
    std::string cfg_text;
    try {
      cfg_text = gemma3_preset_config_json(preset);
    } catch (const Error&) {  // its message lists the Gemma 3 presets only
      OT_FAIL("unknown preset '", preset, "': use 4b, 1b, bench-1024, tiny, tiny-vlm, small-vlm (Gemma 3) or ",
              "tiny-3n, e2b, e4b (Gemma 3n)");
    }
    if (!tokenizer.empty()) {
      // Size the vocabulary and point the special ids at the tokenizer's pieces.
      SentencePiece sp(tokenizer);
      nlohmann::json j = nlohmann::json::parse(cfg_text);
      nlohmann::json& t = j.contains("text_config") ? j["text_config"] : j;
      t["vocab_size"] = sp.vocab_size();
      auto id_of = [&](const char* piece) {
        int32_t id = sp.piece_to_id(piece);
        OT_REQUIRE(id != sp.unk_id(), tokenizer, " has no piece ", piece, ": it is not a Gemma-style tokenizer");
        return id;
      };
      if (j.contains("vision_config")) {
        j["boi_token_index"] = id_of("<start_of_image>");
        j["eoi_token_index"] = id_of("<end_of_image>");
        j["image_token_index"] = id_of("<image_soft_token>");
      }
      j["eos_token_id"] = {sp.eos_id(), id_of("<end_of_turn>")};
      t["bos_token_id"] = sp.bos_id();
      t["pad_token_id"] = sp.pad_id();
      cfg_text = j.dump(2);
      std::filesystem::copy_file(tokenizer, out + "/tokenizer.model", std::filesystem::copy_options::overwrite_existing);
    }
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
