// Model speed on this machine, as ratios against baselines measured in the same run:
//   prefill: achieved GFLOP/s of a full forward vs a plain matmul of the same dtype and width;
//   decode: tokens/s with the KV cache vs recomputing the whole sequence every step.
//   model_bench [--preset bench-1024] [--dtype float32|bfloat16] [--prefill 512] [--prompt 64]
//               [--new-tokens 256] [--threads N]
// Random weights (no checkpoint needed); prints a table. Not a test: nothing is asserted.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include "core/error.h"
#include "dist/runtime.h"
#include "generate/generator.h"
#include "model/gemma3_model.h"

using namespace omnitune;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* kBench1024 = R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text",
  "hidden_size":1024,"intermediate_size":4096,"num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":4,
  "head_dim":128,"sliding_window":512,"sliding_window_pattern":2,"vocab_size":8192,"query_pre_attn_scalar":128})";
const char* kTiny = R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text",
  "hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
  "head_dim":16,"sliding_window":8,"vocab_size":512,"query_pre_attn_scalar":16})";

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime&, int ac, char** av) {
    std::string preset = "bench-1024", dtype = "float32";
    int64_t prefill = 512, new_tokens = 256, prompt = 64;
    int threads = static_cast<int>(std::thread::hardware_concurrency());
    for (int i = 1; i + 1 < ac; i += 2) {
      std::string f = av[i];
      if (f == "--preset") preset = av[i + 1];
      else if (f == "--dtype") dtype = av[i + 1];
      else if (f == "--prefill") prefill = std::stoll(av[i + 1]);
      else if (f == "--new-tokens") new_tokens = std::stoll(av[i + 1]);
      else if (f == "--prompt") prompt = std::stoll(av[i + 1]);
      else if (f == "--threads") threads = std::stoi(av[i + 1]);
      else OT_FAIL("unknown option ", f);
    }
    OT_REQUIRE(preset == "bench-1024" || preset == "tiny", "--preset must be bench-1024 or tiny");
    at::set_num_threads(std::max(1, threads));
    Gemma3Config cfg = gemma3_config_parse(preset == "tiny" ? kTiny : kBench1024, preset);
    const at::ScalarType dt = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
    Gemma3Model model(cfg);
    ParamList params = model.params();
    params_init_random(params, at::TensorOptions().dtype(dt), 0.02, 7);
    at::NoGradGuard ng;
    const Gemma3TextConfig& t = cfg.text;
    std::printf("model_bench: %s, %s, %d threads\n", gemma3_config_describe(cfg).c_str(), dtype.c_str(),
                at::get_num_threads());

    // Baseline: [prefill, D] x [D, I] matmuls, the shape of the MLP projections.
    at::Tensor x = at::randn({prefill, t.hidden_size}).to(dt), w = at::randn({t.hidden_size, t.intermediate_size}).to(dt);
    at::matmul(x, w);
    auto t0 = std::chrono::steady_clock::now();
    int reps = 0;
    while (seconds_since(t0) < 1.0 || reps < 3) {
      at::matmul(x, w);
      ++reps;
    }
    const double mm_gflops = 2.0 * prefill * t.hidden_size * t.intermediate_size * reps / seconds_since(t0) / 1e9;

    // Prefill FLOPs: 2 * tokens * (decoder linear weights + LM head) + attention (QK^T and PV,
    // causal half for global layers, window-bounded for sliding ones).
    int64_t linear = 0;
    for (auto& p : params)
      if (p.shape.size() == 2 && p.name.find("embed_tokens") == std::string::npos) linear += p.shape[0] * p.shape[1];
    linear += t.vocab_size * t.hidden_size;
    double attn = 0;
    for (bool s : t.layer_is_sliding) {
      const double keys = s ? std::min<double>(t.sliding_window, prefill / 2.0) : prefill / 2.0;
      attn += 4.0 * prefill * keys * t.head_dim * t.num_attention_heads;
    }
    const double flops = 2.0 * prefill * linear + attn;
    at::Tensor ids = at::randint(3, t.vocab_size, {1, prefill}, at::kLong);
    model.forward_logits({ids, {}, {}, {}, {}});
    t0 = std::chrono::steady_clock::now();
    reps = 0;
    while (seconds_since(t0) < 2.0 || reps < 2) {
      model.forward_logits({ids, {}, {}, {}, {}});
      ++reps;
    }
    const double prefill_s = seconds_since(t0) / reps;
    const double prefill_gflops = flops / prefill_s / 1e9;

    // Decode: the same greedy continuation with and without the cache.
    GenerateRequest req;
    req.input_ids = ids.narrow(1, 0, std::min<int64_t>(prefill, prompt));
    req.max_new_tokens = new_tokens;
    GenerateResult cached = generate(model, req, SamplingOptions{});
    req.use_cache = false;
    GenerateResult recompute = generate(model, req, SamplingOptions{});
    const double tps_cache = cached.lengths[0] / cached.decode_seconds;
    const double tps_recompute = recompute.lengths[0] / recompute.decode_seconds;

    std::printf("\n%-44s %12s %12s %10s\n", "measure", "value", "baseline", "ratio");
    std::printf("%-44s %12.1f %12.1f %9.2fx\n", "prefill GFLOP/s vs matmul GFLOP/s", prefill_gflops, mm_gflops,
                prefill_gflops / mm_gflops);
    std::printf("%-44s %12.1f %12.1f %9.2fx\n",
                ("decode tokens/s, cache vs recompute (" + std::to_string(new_tokens) + " new)").c_str(), tps_cache,
                tps_recompute, tps_cache / tps_recompute);
    std::printf("(same tokens: %s; prefill %lld tokens in %.3f s)\n",
                cached.tokens.equal(recompute.tokens) ? "yes" : "NO", static_cast<long long>(prefill), prefill_s);
    return 0;
  });
}
