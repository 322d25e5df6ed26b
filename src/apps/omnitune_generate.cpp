// omnitune-generate: answers prompts (optionally with images, and audio clips for Gemma 3n) with a
// Hugging Face Gemma 3 or Gemma 3n model:
// chat template -> processor -> prefill -> KV-cache decode, stopping at <end_of_turn>/<eos>.
// Two front ends over one GenerationSession (src/generate/session.h):
//   single prompts, one process:
//     omnitune-generate --model DIR [--adapter PEFT_DIR] --prompt "..." [--image F] [--audio F] [--prompt "..." ...]
//       [--max-new-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S]
//       [--system "..."] [--dtype auto|float32|bfloat16] [--output text|json] [--out FILE]
//     Several --prompt flags form one left-padded batch; an --image or --audio belongs to the --prompt
//     before it (the user turn holds the images, then the clips, then the text).
//   a dataset on any number of ranks (src/generate/batch_generate.h), what scripts/slurm/generate.sh runs:
//     srun omnitune-generate --config configs/generate_medpix.yaml [--generate.output F ...]
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/app_startup.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/device_mesh.h"
#include "dist/runtime.h"
#include "dist/stop_signal.h"
#include "generate/batch_generate.h"
#include "generate/generate_config.h"
#include "generate/session.h"

using namespace omnitune;

namespace {

struct PromptArg {
  std::string text;
  std::vector<std::string> images, audio;
};

struct Args {
  std::string model, adapter, tokenizer, system, dtype = "auto", output = "text", out, attention = "auto";
  std::vector<PromptArg> prompts;
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
};

const char* kUsage =
    "usage: omnitune-generate --model DIR [--adapter PEFT_DIR] --prompt TEXT [--image FILE]... [--audio FILE]...\n"
    "         [--prompt TEXT [--image FILE]... [--audio FILE]...]   (--audio: Gemma 3n models; WAV/FLAC/OGG/MP3)\n"
    "         [--max-new-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S]\n"
    "         [--system TEXT] [--tokenizer FILE] [--dtype auto|float32|bfloat16]\n"
    "         [--attention auto|reference|chunked|sdpa] [--output text|json] [--out FILE]\n"
    "Sampling defaults are Gemma's generation_config: temperature 1.0, top-k 64, top-p 0.95.\n"
    "   or: omnitune-generate --config FILE [--generate.KEY VALUE ...]   (a dataset over MPI ranks: one\n"
    "         JSONL in input order + evaluation; --help-config lists the keys, docs/cluster.md shows the runs)\n";

// The config front end is chosen by the config flags of the shared command line.
bool wants_config_mode(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" || a.rfind("--config=", 0) == 0 || a == "--help-config" || a == "--print-config") return true;
  }
  return false;
}

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
    else if (f == "--prompt") a.prompts.push_back({value(), {}, {}});
    else if (f == "--image" || f == "--audio") {
      OT_REQUIRE(!a.prompts.empty(), f, " must follow the --prompt it belongs to");
      (f == "--image" ? a.prompts.back().images : a.prompts.back().audio).push_back(value());
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

int run_prompts(int argc, char** argv) {
  Args a = parse(argc, argv);
  SessionOptions so;
  so.model_dir = a.model;
  so.adapter_dir = a.adapter;
  so.tokenizer_path = a.tokenizer;
  so.dtype = a.dtype;
  so.attention = a.attention;
  GenerationSession session(so);
  OT_LOG_INFO(session.describe());

  std::vector<PromptTokens> batch;
  for (const auto& p : a.prompts) {
    ChatEncoding e = session.encode_prompt(a.system, p.text, p.images, p.audio);
    PromptTokens t{std::move(e.ids), std::move(e.token_type), {}, {}};
    std::vector<at::Tensor> imgs;
    for (const auto& f : p.images) imgs.push_back(session.load_image(f));
    if (!imgs.empty()) t.pixels = at::stack(imgs);
    for (const auto& f : p.audio) t.audio.push_back(session.load_audio(f));
    batch.push_back(std::move(t));
  }
  BatchTiming timing;
  const std::vector<Answer> answers = session.generate(batch, a.max_new_tokens, a.sampling, &timing);

  std::string text_out;
  const size_t B = answers.size();
  for (size_t b = 0; b < B; ++b) {
    if (a.output == "json") {
      nlohmann::json j{{"prompt", a.prompts[b].text}, {"images", a.prompts[b].images},
                       {"audio", a.prompts[b].audio}, {"answer", answers[b].text},
                       {"prompt_tokens", batch[b].ids.size()}, {"new_tokens", answers[b].new_tokens},
                       {"prefill_seconds", timing.prefill_seconds}, {"decode_seconds", timing.decode_seconds}};
      text_out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
      text_out += (B > 1 ? "[" + std::to_string(b) + "] " : "") + answers[b].text + "\n";
    }
  }
  if (a.out.empty()) {
    std::fputs(text_out.c_str(), stdout);
  } else {
    std::ofstream o(a.out);
    OT_REQUIRE(o.good(), "cannot write ", a.out);
    o << text_out;
  }
  OT_LOG_INFO("prefill ", timing.prefill_tokens, " tokens in ", timing.prefill_seconds, " s; decode ", timing.new_tokens,
              " tokens in ", timing.decode_seconds, " s (",
              timing.decode_seconds > 0 ? timing.new_tokens / timing.decode_seconds : 0.0, " tokens/s)");
  return 0;
}

int run_config(MpiRuntime& rt, int argc, char** argv) {
  auto ctx = app_startup(rt, argc, argv,
                         "Answers a preprocessed split or a JSONL of questions with images on any number of MPI "
                         "ranks: one JSONL in input order, resumable, scored against the reference answers.",
                         register_generate_config);
  if (!ctx) return 0;
  const GenerateSettings s = generate_settings_from(ctx->config);
  // One whole model per rank (no tensor-parallel generation yet), so no mesh keys: DP = the world.
  DeviceMesh mesh(*ctx->world, rt.topology(), -1, 1);
  const BatchGenerateOutcome out =
      run_batch_generation(s, rt.topology().world_rank, mesh.dp_rank(), mesh.shape().dp, ctx->device.device);
  // Rank 0 alone knows whether the merge happened; a run cut short by a stop signal exits 2.
  return rt.is_root() && !out.complete ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before MPI_Init: a SLURM signal (USR1/TERM) during start-up is a stop request, not a kill.
  stop_signal_install();
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    return wants_config_mode(ac, av) ? run_config(rt, ac, av) : run_prompts(ac, av);
  });
}
