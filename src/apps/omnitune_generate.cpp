// omnitune-generate: answers prompts (optionally with images) with a Hugging Face Gemma 3 model:
// chat template -> processor -> prefill -> KV-cache decode, stopping at <end_of_turn>/<eos>.
//   omnitune-generate --model DIR --prompt "..." [--image F] [--prompt "..." [--image F] ...]
//       [--max-new-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S]
//       [--system "..."] [--dtype auto|float32|bfloat16] [--output text|json] [--out FILE]
// Several --prompt flags form one left-padded batch; an --image belongs to the --prompt before it.
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <optional>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "dist/runtime.h"
#include "generate/generator.h"
#include "media/image_decode.h"
#include "media/image_processor.h"
#include "media/image_resize.h"
#include "model/gemma3_model.h"
#include "model/hf_loader.h"
#include "model/peft_adapter.h"
#include "tokenizer/chat_template.h"

using namespace omnitune;

namespace {

struct PromptArg {
  std::string text;
  std::vector<std::string> images;
};

struct Args {
  std::string model, adapter, tokenizer, system, dtype = "auto", output = "text", out, attention = "auto";
  std::vector<PromptArg> prompts;
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
};

const char* kUsage =
    "usage: omnitune-generate --model DIR [--adapter PEFT_DIR] --prompt TEXT [--image FILE]... [--prompt TEXT [--image FILE]...]\n"
    "         [--max-new-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S]\n"
    "         [--system TEXT] [--tokenizer FILE] [--dtype auto|float32|bfloat16]\n"
    "         [--attention auto|reference|chunked|sdpa] [--output text|json] [--out FILE]\n"
    "Sampling defaults are Gemma's generation_config: temperature 1.0, top-k 64, top-p 0.95.\n";

Args parse(int argc, char** argv) {
  Args a;
  a.sampling.greedy = false;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> std::string {
      OT_REQUIRE(i + 1 < argc, "option ", f, " needs a value\n", kUsage);
      return argv[++i];
    };
    if (f == "--model") a.model = value();
    else if (f == "--adapter") a.adapter = value();
    else if (f == "--tokenizer") a.tokenizer = value();
    else if (f == "--prompt") a.prompts.push_back({value(), {}});
    else if (f == "--image") {
      OT_REQUIRE(!a.prompts.empty(), "--image must follow the --prompt it belongs to");
      a.prompts.back().images.push_back(value());
    } else if (f == "--system") a.system = value();
    else if (f == "--max-new-tokens") a.max_new_tokens = std::stoll(value());
    else if (f == "--greedy") a.sampling.greedy = true;
    else if (f == "--temperature") a.sampling.temperature = std::stod(value());
    else if (f == "--top-k") a.sampling.top_k = std::stoll(value());
    else if (f == "--top-p") a.sampling.top_p = std::stod(value());
    else if (f == "--seed") a.sampling.seed = std::stoull(value());
    else if (f == "--dtype") a.dtype = value();
    else if (f == "--attention") a.attention = value();
    else if (f == "--output") a.output = value();
    else if (f == "--out") a.out = value();
    else if (f == "--help" || f == "-h") { std::printf("%s", kUsage); std::exit(0); }
    else OT_FAIL("unknown option '", f, "'\n", kUsage);
  }
  OT_REQUIRE(!a.model.empty() && !a.prompts.empty(), "--model and at least one --prompt are required\n", kUsage);
  OT_REQUIRE(a.output == "text" || a.output == "json", "--output must be text or json");
  OT_REQUIRE(a.dtype == "auto" || a.dtype == "float32" || a.dtype == "bfloat16", "--dtype must be auto, float32 or bfloat16");
  OT_REQUIRE(a.sampling.temperature > 0, "--temperature must be > 0 (use --greedy for argmax)");
  return a;
}

at::ScalarType pick_dtype(const std::string& setting, const std::string& model_dir) {
  if (setting == "float32") return at::kFloat;
  if (setting == "bfloat16") return at::kBFloat16;
  std::ifstream in(model_dir + "/config.json");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  std::string td = j.is_object() ? j.value("torch_dtype", std::string("bfloat16")) : "bfloat16";
  return td == "float32" ? at::kFloat : at::kBFloat16;
}

// One image file -> normalised [3, H, W] pixels, through the shared decode/resize/processor code.
at::Tensor load_pixels(const std::string& path, const ImageProcessorConfig& pc, at::ScalarType dt) {
  // Full-size decode (no DCT scaling) so pixels match Pillow, the HF processor's backend; gray
  // sources are resized single-channel and widened afterwards (the same bytes, a third the work).
  Image img = decode_image_file(path, DecodeOptions{});
  if (img.width != pc.width || img.height != pc.height) img = resize_bilinear(img, pc.width, pc.height);
  img = to_rgb(img);
  std::vector<float> chw = image_processor_normalize(img.pixels.data(), img.width, img.height, pc);
  return at::from_blob(chw.data(), {3, pc.height, pc.width}, at::kFloat).clone().to(dt);
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime&, int ac, char** av) {
    Args a = parse(ac, av);
    auto t0 = std::chrono::steady_clock::now();
    Gemma3Config cfg = gemma3_config_load(a.model);
    // With --adapter: LoRA layers where the PEFT adapter's target_modules say, weights from it.
    std::optional<PeftAdapter> adapter;
    if (!a.adapter.empty()) adapter = peft_adapter_load(a.adapter);
    Gemma3Model model(cfg, adapter ? peft_adapter_factory(*adapter, dense_linear_factory()) : dense_linear_factory());
    model.attention_impl = attention_impl_from_string(a.attention);
    ParamList params = model.params(), base;
    for (auto& p : params)
      if (!is_lora_param(p.name)) base.push_back(p);
    HfLoadOptions lo;
    lo.dtype = pick_dtype(a.dtype, a.model);
    HfLoadReport rep = hf_load_checkpoint(a.model, base, lo);
    if (adapter) {
      peft_adapter_load_weights(*adapter, params, lo.dtype);
      OT_LOG_INFO("LoRA adapter ", a.adapter, " (r ", adapter->lora.rank, ", alpha ", adapter->lora.alpha, ")");
    }
    SentencePiece sp(a.tokenizer.empty() ? a.model + "/tokenizer.model" : a.tokenizer);
    OT_LOG_INFO(gemma3_config_describe(cfg), "; ", rep.tensors, " tensors loaded in ",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), " s");

    GemmaChatTemplate tpl(sp, {cfg.has_vision ? cfg.mm_tokens_per_image : 0, 0});
    ImageProcessorConfig pc;
    bool any_image = false;
    for (const auto& p : a.prompts) any_image = any_image || !p.images.empty();
    if (any_image) {
      OT_REQUIRE(cfg.has_vision, a.model, " is a text-only model (", cfg.architecture, "): it cannot take --image");
      pc = image_processor_load(a.model);
    }

    // Encode every prompt, left-pad to the longest, gather images batch-major.
    std::vector<ChatEncoding> enc;
    std::vector<at::Tensor> pixels;
    int64_t T = 0;
    for (const auto& p : a.prompts) {
      std::vector<ChatMessage> msgs;
      if (!a.system.empty()) msgs.push_back({"system", {{ChatItem::Kind::Text, a.system}}});
      ChatMessage user{"user", {}};
      for (const auto& img : p.images) {
        user.content.push_back({ChatItem::Kind::Image, img});
        pixels.push_back(load_pixels(img, pc, lo.dtype));
      }
      user.content.push_back({ChatItem::Kind::Text, p.text});
      msgs.push_back(user);
      enc.push_back(tpl.encode(msgs, true));
      T = std::max<int64_t>(T, enc.back().ids.size());
    }
    const int64_t B = static_cast<int64_t>(enc.size());
    at::Tensor ids = at::full({B, T}, sp.pad_id() >= 0 ? sp.pad_id() : 0, at::kLong);
    at::Tensor mask = at::zeros({B, T}, at::kLong), types = at::zeros({B, T}, at::kLong);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = enc[b].ids.size(), off = T - n;
      for (int64_t t = 0; t < n; ++t) {
        ids[b][off + t] = enc[b].ids[t];
        mask[b][off + t] = 1;
        types[b][off + t] = enc[b].token_type[t];
      }
    }
    GenerateRequest req;
    req.input_ids = ids;
    req.attention_mask = mask;
    if (!pixels.empty()) {
      req.pixel_values = at::stack(pixels);
      req.token_type_ids = types;
    }
    req.max_new_tokens = a.max_new_tokens;
    req.stop_ids = cfg.eos_token_ids;
    req.stop_ids.push_back(tpl.end_of_turn_id());
    req.pad_id = sp.pad_id() >= 0 ? sp.pad_id() : 0;
    at::NoGradGuard no_grad;
    GenerateResult g = generate(model, req, a.sampling);

    std::string text_out;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int32_t> answer;
      for (int64_t t = 0; t < g.lengths[b]; ++t) {
        int64_t id = g.tokens[b][t].item<int64_t>();
        bool stop = false;
        for (int64_t s : req.stop_ids) stop = stop || s == id;
        if (!stop) answer.push_back(static_cast<int32_t>(id));
      }
      std::string decoded = sp.decode(answer);
      if (a.output == "json") {
        nlohmann::json j{{"prompt", a.prompts[b].text}, {"images", a.prompts[b].images}, {"answer", decoded},
                         {"prompt_tokens", enc[b].ids.size()}, {"new_tokens", g.lengths[b]},
                         {"prefill_seconds", g.prefill_seconds}, {"decode_seconds", g.decode_seconds}};
        text_out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      } else {
        text_out += (B > 1 ? "[" + std::to_string(b) + "] " : "") + decoded + "\n";
      }
    }
    if (a.out.empty()) {
      std::fputs(text_out.c_str(), stdout);
    } else {
      std::ofstream o(a.out);
      OT_REQUIRE(o.good(), "cannot write ", a.out);
      o << text_out;
    }
    int64_t new_tokens = 0;
    for (auto l : g.lengths) new_tokens += l;
    OT_LOG_INFO("prefill ", g.prefill_tokens, " tokens in ", g.prefill_seconds, " s; decode ", new_tokens,
                " tokens in ", g.decode_seconds, " s (", g.decode_seconds > 0 ? new_tokens / g.decode_seconds : 0.0,
                " tokens/s)");
    return 0;
  });
}
