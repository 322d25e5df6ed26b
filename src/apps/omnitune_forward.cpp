// omnitune-forward: runs a Hugging Face Gemma 3 or Gemma 3n checkpoint (by config.json's
// model_type) on inputs from a safetensors file and writes the logits (fp32), so anyone can check
// parity against a reference implementation.
//   omnitune-forward --model DIR --inputs IN.safetensors --out OUT.safetensors
//                    [--dtype float32|bfloat16] [--attention auto|reference|chunked|sdpa]
//                    [--greedy-new-tokens N] [--allow-unexpected]
// IN holds input_ids [B, T] (int64) and optionally pixel_values, attention_mask, token_type_ids
// (Gemma 3), input_features [N, frames, mel] + input_features_mask [N, frames] (Gemma 3n audio, HF
// names: mask true = real frame). With --greedy-new-tokens N, OUT also holds generated_ids [B, N]
// from the KV-cache decode path.
#include <ATen/core/grad_mode.h>

#include <cstdio>
#include <string>

#include "core/cli.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/runtime.h"
#include "generate/generator.h"
#include "model/gemma3_model.h"
#include "model/gemma3n_model.h"
#include "model/hf_config_json.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"

using namespace omnitune;

namespace {

struct Args {
  std::string model, inputs, out, dtype = "float32", attention = "auto";
  int64_t greedy_new_tokens = 0;
  bool allow_unexpected = false;
};

const char* kUsage =
    "usage: omnitune-forward --model DIR --inputs IN.safetensors --out OUT.safetensors\n"
    "                        [--dtype float32|bfloat16] [--attention auto|reference|chunked|sdpa]\n"
    "                        [--greedy-new-tokens N] [--allow-unexpected]\n"
    "IN holds input_ids [B, T] int64 and optionally pixel_values [N, 3, S, S], token_type_ids [B, T],\n"
    "attention_mask [B, T]; for Gemma 3n also input_features [N, frames, mel] and input_features_mask\n"
    "[N, frames] (true = real frame). OUT receives logits [B, T, vocab] fp32 (and generated_ids [B, N]).\n";

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> std::string {
      OT_REQUIRE(i + 1 < argc, "option ", f, " needs a value\n", kUsage);
      return argv[++i];
    };
    if (f == "--model") a.model = value();
    else if (f == "--inputs") a.inputs = value();
    else if (f == "--out") a.out = value();
    else if (f == "--dtype") a.dtype = value();
    else if (f == "--attention") a.attention = value();
    else if (f == "--greedy-new-tokens") a.greedy_new_tokens = std::stoll(value());
    else if (f == "--allow-unexpected") a.allow_unexpected = true;
    else OT_FAIL("unknown option '", f, "'\n", kUsage);
  }
  OT_REQUIRE(!a.model.empty() && !a.inputs.empty() && !a.out.empty(), "--model, --inputs and --out are required\n", kUsage);
  OT_REQUIRE(a.dtype == "float32" || a.dtype == "bfloat16", "--dtype must be float32 or bfloat16");
  return a;
}

at::Tensor optional(const SafetensorsFile& f, const std::string& name) {
  return f.contains(name) ? safetensors_read(f, name) : at::Tensor();
}

HfLoadOptions load_options(const Args& a) {
  HfLoadOptions lo;
  lo.dtype = a.dtype == "float32" ? at::kFloat : at::kBFloat16;
  lo.allow_unexpected = a.allow_unexpected;
  return lo;
}

void log_load(const HfLoadReport& rep) {
  OT_LOG_INFO("loaded ", rep.tensors, " tensors (", rep.bytes / (1 << 20), " MiB, key style ", rep.key_style,
              ", ", rep.zero_copy, " zero-copy", rep.ignored.empty() ? "" : str_cat(", ", rep.ignored.size(), " ignored"),
              ")");
}

// Writes the prompt's logits (fp32) and, with --greedy-new-tokens N, exactly N greedy tokens
// decoded on the KV cache (no stop ids).
template <typename Model>
int write_outputs(const Args& a, const Model& model, const at::Tensor& logits, GenerateRequest req) {
  std::vector<std::pair<std::string, at::Tensor>> out{{"logits", logits.to(at::kFloat)}};
  if (a.greedy_new_tokens > 0) {
    req.max_new_tokens = a.greedy_new_tokens;
    out.push_back({"generated_ids", generate(model, req, SamplingOptions{}).tokens});
  }
  safetensors_write(a.out, out, {{"producer", "omnitune-forward"}});
  OT_LOG_INFO("wrote ", a.out, ": logits ", logits.sizes());
  return 0;
}

int run_gemma3(const Args& a) {
  Gemma3Config cfg = gemma3_config_load(a.model);
  OT_LOG_INFO(gemma3_config_describe(cfg));
  Gemma3Model model(cfg);
  model.attention_impl = attention_impl_from_string(a.attention);
  ParamList params = model.params();
  const HfLoadOptions lo = load_options(a);
  log_load(hf_load_checkpoint(a.model, params, lo));

  SafetensorsFile in = SafetensorsFile::open(a.inputs);
  OT_REQUIRE(in.contains("input_ids"), a.inputs, ": needs an 'input_ids' tensor [batch, tokens]");
  Gemma3Inputs x;
  x.input_ids = safetensors_read(in, "input_ids").to(at::kLong);
  x.pixel_values = optional(in, "pixel_values");
  if (x.pixel_values.defined()) x.pixel_values = x.pixel_values.to(lo.dtype);
  x.token_type_ids = optional(in, "token_type_ids");
  x.attention_mask = optional(in, "attention_mask");
  GenerateRequest req;
  req.input_ids = x.input_ids;
  req.attention_mask = x.attention_mask;
  req.pixel_values = x.pixel_values;
  req.token_type_ids = x.token_type_ids;
  at::NoGradGuard no_grad;
  return write_outputs(a, model, model.forward_logits(x), req);
}

int run_gemma3n(const Args& a) {
  std::unique_ptr<Gemma3nModel> loaded = gemma3n_model_for_checkpoint(a.model);
  Gemma3nModel& model = *loaded;
  const Gemma3nConfig& cfg = model.config();
  OT_LOG_INFO(gemma3n_config_describe(cfg));
  model.attention_impl = attention_impl_from_string(a.attention);
  if (model.vision()) OT_LOG_INFO("vision tower: ", model.vision()->describe());
  ParamList params = model.params();
  const HfLoadOptions lo = load_options(a);
  log_load(gemma3n_load_weights(a.model, model, params, lo));

  SafetensorsFile in = SafetensorsFile::open(a.inputs);
  OT_REQUIRE(in.contains("input_ids"), a.inputs, ": needs an 'input_ids' tensor [batch, tokens]");
  Gemma3nInputs x;
  x.input_ids = safetensors_read(in, "input_ids").to(at::kLong);
  x.attention_mask = optional(in, "attention_mask");
  x.pixel_values = optional(in, "pixel_values");
  x.audio_features = optional(in, "input_features");
  if (x.audio_features.defined()) {
    OT_REQUIRE(in.contains("input_features_mask"), a.inputs, ": input_features needs input_features_mask");
    x.audio_features = x.audio_features.to(lo.dtype);
    x.audio_pad = safetensors_read(in, "input_features_mask").to(at::kBool).logical_not();
  }
  GenerateRequest req;
  req.input_ids = x.input_ids;
  req.attention_mask = x.attention_mask;
  req.pixel_values = x.pixel_values;
  req.audio_features = x.audio_features;
  req.audio_pad = x.audio_pad;
  at::NoGradGuard no_grad;
  return write_outputs(a, model, model.forward_logits(x), req);
}

}  // namespace

int main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::printf("%s", kUsage);
    return 0;
  }
  return run_main(argc, argv, [](MpiRuntime&, int ac, char** av) {
    const Args a = parse(ac, av);
    return hf_config_model_type(a.model) == "gemma3n" ? run_gemma3n(a) : run_gemma3(a);
  });
}
