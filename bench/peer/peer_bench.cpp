// omnitune on the peer benchmark's workloads (bench/peer/README.md): the model the trainer's
// engine and the generator run (Gemma3Model, nn/, generate()), loaded from the HF directory
// bench_gemma_pytorch.py exported, timed on exactly its ids and shapes:
//   prefill  [4, 512] -> logits of every position, in the model dtype, under InferenceMode;
//   train    [2, 512] forward -> all logits -> fp32 -> mean next-token cross-entropy over 2 x 511
//            targets -> backward into every text parameter (tied embedding included), no
//            optimizer, gradients reset each step, no activation checkpointing;
//   generate batch 1, the 64-token prompt, 128 greedy tokens with the KV cache, no early stop
//            (1 prefill + 127 one-token steps), the decode steps also alone;
//   peak     matmul [4096, 1024] @ [1024, 4096] fp32 and bf16 and a 512 MiB read, before and after.
// Before timing a dtype it checks the last-position logits and the loss against the export's
// (logits vs the peer's fp32 ones: fp32 <= 1e-4, bf16 <= 0.1; loss: fp32 1e-4 relative, bf16 0.05
// of the peer's bf16 loss) and
// stops if they disagree. Prints a table and writes the figures as JSON (--json), in the peer's
// layout where the two share a field, for bench/peer/run.sh.
//   peer_bench EXPORT_DIR [--threads 2] [--dtypes float32,bfloat16] [--only peak,prefill,train,generate]
//              [--warmup 1] [--reps 3] [--gen-reps 2] [--peak-reps 7] [--json FILE]
//   peer_bench MODEL_DIR --no-reference ...   (smoke: random ids at --prefill B,L --train B,L --prompt P --gen N)
//   --unfused: the fused CPU kernels (nn/fused_cpu.h) off, to time what they replace in one run.
//   --profile DIR: after timing, one more step of each workload under LibTorch's profiler, its
//   trace in DIR/<work>-<dtype>.trace.json (bench/peer/profile_table.py sums it by operator).
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "dist/runtime.h"
#include "generate/generator.h"
#include "model/gemma3_config.h"
#include "model/gemma3_model.h"
#include "model/hf_loader.h"
#include "nn/fused_cpu.h"
#include "nn/tensor_io.h"

using namespace omnitune;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Options {
  std::string dir, json_out, profile_dir;
  int threads = 2;
  std::vector<std::string> dtypes{"float32", "bfloat16"};
  std::vector<std::string> only{"peak", "prefill", "train", "generate"};
  int warmup = 1, reps = 3, gen_reps = 2, peak_reps = 7;
  bool reference = true;
  bool unfused = false;  // fused CPU kernels off: the same model on LibTorch's separate ops
  // Shapes of --no-reference runs (the export fixes them otherwise).
  std::vector<int64_t> prefill{4, 512}, train{2, 512};
  int64_t prompt = 64, gen = 128;
  int64_t peak_m = 4096, peak_k = 1024, peak_n = 4096, bw_mib = 512;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// min / median / max of repeated timings, and the rate of `units` per second at the median.
json summarize(std::vector<double> ts, double units) {
  std::sort(ts.begin(), ts.end());
  const double med = ts.size() % 2 ? ts[ts.size() / 2] : 0.5 * (ts[ts.size() / 2 - 1] + ts[ts.size() / 2]);
  return {{"seconds", {{"min", ts.front()}, {"median", med}, {"max", ts.back()}, {"all", ts}}},
          {"per_second", {{"at_min_time", units / ts.front()}, {"at_median_time", units / med}, {"at_max_time", units / ts.back()}}}};
}

std::vector<double> time_reps(const std::function<void()>& fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    fn();
    ts.push_back(now_s() - t0);
  }
  return ts;
}

// Peak of this process: matmul GFLOP/s per dtype and a read-bandwidth probe (sum over bw_mib MiB
// of fp32). Medians of peak_reps after 2 warm-ups.
json measure_peak(const Options& o) {
  json out;
  for (const char* name : {"float32", "bfloat16"}) {
    const at::ScalarType dt = std::string(name) == "float32" ? at::kFloat : at::kBFloat16;
    at::Tensor a = at::randn({o.peak_m, o.peak_k}).to(dt), b = at::randn({o.peak_k, o.peak_n}).to(dt);
    json s = summarize(time_reps([&] { at::matmul(a, b); }, 2, o.peak_reps), 2.0 * o.peak_m * o.peak_k * o.peak_n);
    s["gflops"] = s["per_second"]["at_median_time"].get<double>() / 1e9;
    out[std::string("matmul_") + (dt == at::kFloat ? "fp32" : "bf16")] = s;
  }
  at::Tensor big = at::ones({o.bw_mib * 1024 * 1024 / 4}, at::kFloat);
  json s = summarize(time_reps([&] { big.sum().item<float>(); }, 2, o.peak_reps * 2), double(big.numel()) * 4);
  s["gbytes_per_s"] = s["per_second"]["at_median_time"].get<double>() / 1e9;
  out["read_bandwidth"] = s;
  return out;
}

// The peer's FLOP model (bench/peer/README.md): P_mm and F_fwd(Lk).
struct FlopModel {
  double p_mm = 0, attn_per_key = 0;
  double fwd(double keys) const { return 2 * p_mm + attn_per_key * keys; }
};

FlopModel flop_model(const Gemma3TextConfig& t) {
  FlopModel f;
  const double H = double(t.hidden_size), I = double(t.intermediate_size), hd = double(t.head_dim);
  const double nH = double(t.num_attention_heads), nKV = double(t.num_key_value_heads), NL = double(t.num_hidden_layers);
  f.p_mm = NL * (H * (nH + 2 * nKV) * hd + nH * hd * H + 3 * H * I) + double(t.vocab_size) * H;
  f.attn_per_key = 4 * NL * nH * hd;
  return f;
}

// One more call of `step` under the profiler, its chrome trace written to DIR/<name>.trace.json.
void profile_step(const std::string& dir, const std::string& name, const std::function<void()>& step) {
  if (dir.empty()) return;
  fs::create_directories(dir);
  const std::string path = (fs::path(dir) / (name + ".trace.json")).string();
  {
    torch::autograd::profiler::RecordProfile guard(path);
    step();
  }
  std::printf("profile of one %s step: %s\n", name.c_str(), path.c_str());
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime&, int ac, char** av) {
    Options o;
    for (int i = 1; i < ac; ++i) {
      const std::string f = av[i];
      auto val = [&]() -> std::string {
        OT_REQUIRE(i + 1 < ac, f, " needs a value");
        return av[++i];
      };
      auto shape = [&](const std::string& s) {
        auto parts = split_list(s);
        OT_REQUIRE(parts.size() == 2, f, " takes B,L (e.g. 4,512), got '", s, "'");
        return std::vector<int64_t>{std::stoll(parts[0]), std::stoll(parts[1])};
      };
      if (f == "-h" || f == "--help") {
        std::printf("usage: peer_bench EXPORT_DIR [--threads N] [--dtypes float32,bfloat16] [--only peak,prefill,train,generate]\n"
                    "       [--warmup N] [--reps N] [--gen-reps N] [--peak-reps N] [--json FILE] [--profile DIR] [--unfused]\n"
                    "       [--no-reference --prefill B,L --train B,L --prompt P --gen N --peak M,K,N --bw-mib N]\n"
                    "Times omnitune on the peer benchmark's workloads (bench/peer/README.md).\n");
        return 0;
      }
      if (f == "--threads") o.threads = std::stoi(val());
      else if (f == "--dtypes") o.dtypes = split_list(val());
      else if (f == "--only") o.only = split_list(val());
      else if (f == "--warmup") o.warmup = std::stoi(val());
      else if (f == "--reps") o.reps = std::stoi(val());
      else if (f == "--gen-reps") o.gen_reps = std::stoi(val());
      else if (f == "--peak-reps") o.peak_reps = std::stoi(val());
      else if (f == "--json") o.json_out = val();
      else if (f == "--profile") o.profile_dir = val();
      else if (f == "--no-reference") o.reference = false;
      else if (f == "--unfused") o.unfused = true;
      else if (f == "--prefill") o.prefill = shape(val());
      else if (f == "--train") o.train = shape(val());
      else if (f == "--prompt") o.prompt = std::stoll(val());
      else if (f == "--gen") o.gen = std::stoll(val());
      else if (f == "--bw-mib") o.bw_mib = std::stoll(val());
      else if (f == "--peak") {
        auto p = split_list(val());
        OT_REQUIRE(p.size() == 3, "--peak takes M,K,N");
        o.peak_m = std::stoll(p[0]), o.peak_k = std::stoll(p[1]), o.peak_n = std::stoll(p[2]);
      } else if (!f.empty() && f[0] != '-' && o.dir.empty()) o.dir = f;
      else OT_FAIL("unknown option ", f, " (--help lists them)");
    }
    OT_REQUIRE(!o.dir.empty(), "usage: peer_bench EXPORT_DIR [options] (--help)");
    for (const auto& d : o.dtypes) OT_REQUIRE(d == "float32" || d == "bfloat16", "--dtypes: float32 and/or bfloat16, got '", d, "'");
    at::set_num_threads(o.threads);
    set_fused_cpu_kernels(!o.unfused);
    const double t_start = now_s();

    const Gemma3Config cfg = gemma3_config_load(o.dir);
    const FlopModel fm = flop_model(cfg.text);
    const int64_t V = cfg.text.vocab_size;

    // The ids (and the peer's reference outputs) from the export, or random ids for a smoke run.
    std::map<std::string, at::Tensor> ref;
    if (o.reference) {
      const std::string path = (fs::path(o.dir) / "bench_inputs.safetensors").string();
      OT_REQUIRE(fs::exists(path), path, " is missing: export with bench_gemma_pytorch.py --export (bench/peer/run.sh "
                 "does), or pass --no-reference for a smoke run on random ids");
      SafetensorsFile f = SafetensorsFile::open(path);
      for (const auto& n : f.names()) ref[n] = safetensors_read(f, n).clone();
    } else {
      at::manual_seed(7);
      ref["prefill_input_ids"] = at::randint(3, V - 3, {o.prefill[0], o.prefill[1]}, at::kLong);
      ref["train_input_ids"] = at::randint(3, V - 3, {o.train[0], o.train[1]}, at::kLong);
      ref["generate_prompt_ids"] = at::randint(3, V - 3, {1, o.prompt}, at::kLong);
    }
    auto need = [&](const std::string& n) -> const at::Tensor& {
      OT_REQUIRE(ref.count(n), o.dir, "/bench_inputs.safetensors has no '", n, "': export it with a timed peer run ",
                 "(bench_gemma_pytorch.py --export without --only none)");
      return ref.at(n);
    };
    const at::Tensor prefill_ids = need("prefill_input_ids"), train_ids = need("train_input_ids"),
                     prompt_ids = need("generate_prompt_ids");
    const int64_t gen_tokens = o.reference ? 128 : o.gen;

    json res = {{"benchmark", "bench/peer/peer_bench"},
                {"implementation", o.unfused ? "omnitune Gemma3Model (LibTorch C++, CPU), fused kernels off"
                                             : "omnitune Gemma3Model (LibTorch C++, CPU)"},
                {"fused_cpu_kernels", !o.unfused},
                {"threads", {{"at::get_num_threads", at::get_num_threads()},
                             {"OMP_NUM_THREADS", std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : ""},
                             {"OPENBLAS_NUM_THREADS", std::getenv("OPENBLAS_NUM_THREADS") ? std::getenv("OPENBLAS_NUM_THREADS") : ""}}},
                {"model", gemma3_config_describe(cfg)},
                {"flop_model", {{"P_mm", fm.p_mm}}}};
    std::printf("peer_bench: %s, %d threads%s\n", gemma3_config_describe(cfg).c_str(), at::get_num_threads(),
                o.unfused ? ", fused CPU kernels off (--unfused)" : "");
    if (!o.reference) std::printf("(--no-reference: random ids, no checks against the peer: a smoke run)\n");
    json peak_start, peak_end;
    if (has(o.only, "peak")) peak_start = measure_peak(o);

    std::map<std::string, at::Tensor> fp32_last_logits;
    for (const std::string& dname : o.dtypes) {
      const at::ScalarType dt = dname == "float32" ? at::kFloat : at::kBFloat16;
      const std::string key = dt == at::kFloat ? "fp32" : "bf16";
      // The model as the generator loads it: fp32 weights mapped, bf16 rounded to nearest even
      // (at::Tensor::to), as torch's .to(torch.bfloat16) does.
      Gemma3Model model(cfg);
      ParamList params = model.params();
      HfLoadOptions lo;
      lo.dtype = dt;
      hf_load_checkpoint(o.dir, params, lo);
      std::printf("%s: %s, attention %s\n", key.c_str(), "weights loaded",
                  attention_impl_name(attention_resolve(model.attention_impl)));

      if (has(o.only, "prefill")) {
        at::Tensor logits;
        auto step = [&] {
          c10::InferenceMode im;
          logits = model.forward_logits({prefill_ids, {}, {}, {}, {}});
        };
        step();  // the check runs on a first, untimed call (also the warm-up)
        at::Tensor last = logits.select(1, logits.size(1) - 1).to(at::kFloat);
        double diff = -1;
        if (o.reference) {
          // Both dtypes against the peer's fp32 logits: bf16 rounding alone moves them ~0.06.
          diff = (last - need("prefill_last_logits_fp32").to(at::kFloat)).abs().max().item<double>();
          const double tol = dt == at::kFloat ? 1e-4 : 0.1;
          std::printf("%s prefill check: last-position logits max |diff| vs the peer's fp32 %.3g (<= %.3g)\n", key.c_str(),
                      diff, tol);
          OT_REQUIRE(diff <= tol, key, " prefill logits differ from the peer's by ", diff, " (> ", tol, "): not the same model");
        }
        const double tokens = double(prefill_ids.numel());
        json s = summarize(time_reps(step, o.warmup - 1 > 0 ? o.warmup - 1 : 0, o.reps), tokens);
        s["tokens_per_s"] = s["per_second"]["at_median_time"];
        s["flops_per_token"] = fm.fwd(double(prefill_ids.size(1)));
        s["gflops_per_s"] = s["tokens_per_s"].get<double>() * fm.fwd(double(prefill_ids.size(1))) / 1e9;
        s["shape"] = {prefill_ids.size(0), prefill_ids.size(1)};
        s["logits"] = {{"shape", logits.sizes().vec()}, {"dtype", key}};
        if (diff >= 0) s["check_max_abs_diff_vs_fp32"] = diff;
        res["prefill"][key] = s;
        profile_step(o.profile_dir, "prefill-" + key, step);
      }

      if (has(o.only, "train")) {
        ParamList text;
        model.text().collect_params(text);
        for (auto& p : text) p.tensor->requires_grad_(true);
        double loss_value = 0, grad_norm = 0;
        auto step = [&] {
          for (auto& p : text) p.tensor->mutable_grad() = at::Tensor();
          at::Tensor logits = model.forward_logits({train_ids, {}, {}, {}, {}});
          const int64_t L = train_ids.size(1);
          at::Tensor loss = at::cross_entropy_loss(logits.narrow(1, 0, L - 1).to(at::kFloat).reshape({-1, V}),
                                                   train_ids.narrow(1, 1, L - 1).reshape({-1}));
          loss.backward();
          loss_value = loss.item<double>();
        };
        step();
        at::Tensor sq = at::zeros({}, at::kDouble);
        for (auto& p : text)
          if (p.tensor->grad().defined()) sq += p.tensor->grad().to(at::kDouble).pow(2).sum();
        grad_norm = std::sqrt(sq.item<double>());
        if (o.reference) {
          const double want = need(dt == at::kFloat ? "train_loss_fp32" : "train_loss_bf16").item<double>();
          const double diff = std::abs(loss_value - want), tol = dt == at::kFloat ? 1e-4 * std::max(1.0, std::abs(want)) : 0.05;
          std::printf("%s train check: loss %.6f vs the peer's %.6f, |diff| %.3g (<= %.3g)\n", key.c_str(), loss_value, want,
                      diff, tol);
          OT_REQUIRE(diff <= tol, key, " training loss differs from the peer's by ", diff, " (> ", tol, ")");
        }
        const double tokens = double(train_ids.numel());
        json s = summarize(time_reps(step, o.warmup - 1 > 0 ? o.warmup - 1 : 0, o.reps), tokens);
        s["tokens_per_s"] = s["per_second"]["at_median_time"];
        s["flops_per_token"] = 3 * fm.fwd(double(train_ids.size(1)));
        s["gflops_per_s"] = s["tokens_per_s"].get<double>() * 3 * fm.fwd(double(train_ids.size(1))) / 1e9;
        s["shape"] = {train_ids.size(0), train_ids.size(1)};
        s["loss"] = loss_value;
        s["grad_norm"] = grad_norm;
        res["train"][key] = s;
        profile_step(o.profile_dir, "train-" + key, step);
        for (auto& p : text) {
          p.tensor->mutable_grad() = at::Tensor();
          p.tensor->requires_grad_(false);
        }
      }

      if (has(o.only, "generate")) {
        GenerateRequest req;
        req.input_ids = prompt_ids;
        req.max_new_tokens = 8;
        {
          at::NoGradGuard ng;
          generate(model, req, SamplingOptions{});  // warm-up: a short generation
        }
        req.max_new_tokens = gen_tokens;
        std::vector<double> total, decode;
        at::Tensor ids;
        for (int r = 0; r < o.gen_reps; ++r) {
          at::NoGradGuard ng;
          const double t0 = now_s();
          GenerateResult g = generate(model, req, SamplingOptions{});
          total.push_back(now_s() - t0);
          decode.push_back(g.decode_seconds);
          ids = g.tokens;
        }
        json s = summarize(total, double(gen_tokens));
        s["tokens_per_s"] = s["per_second"]["at_median_time"];
        json d = summarize(decode, double(gen_tokens - 1));
        d["tokens"] = gen_tokens - 1;
        d["tokens_per_s"] = d["per_second"]["at_median_time"];
        const double weight_bytes = fm.p_mm * (dt == at::kFloat ? 4 : 2);
        d["weight_bytes_per_token"] = weight_bytes;
        d["weight_gbytes_per_s"] = d["tokens_per_s"].get<double>() * weight_bytes / 1e9;
        s["decode"] = d;
        s["shape"] = {prompt_ids.size(1), gen_tokens};
        if (o.reference) {
          const std::string n = dt == at::kFloat ? "generate_greedy_ids_fp32" : "generate_greedy_ids_bf16";
          if (ref.count(n)) {
            at::Tensor want = ref.at(n).reshape({-1}).to(at::kLong), got = ids.reshape({-1});
            const int64_t m = std::min(want.numel(), got.numel());
            int64_t same = 0;
            while (same < m && want[same].item<int64_t>() == got[same].item<int64_t>()) ++same;
            s["greedy_ids_equal_prefix"] = same;
            std::printf("%s generate: the first %lld of %lld greedy ids equal the peer's\n", key.c_str(),
                        static_cast<long long>(same), static_cast<long long>(m));
          }
        }
        res["generate"][key] = s;
      }
    }
    if (has(o.only, "peak")) {
      peak_end = measure_peak(o);
      json peak;
      for (const char* k : {"matmul_fp32", "matmul_bf16", "read_bandwidth"}) {
        const char* f = std::string(k) == "read_bandwidth" ? "gbytes_per_s" : "gflops";
        const double a = peak_start[k][f], b = peak_end[k][f];
        peak[k] = peak_end[k];
        peak[k]["median_by_phase"] = {{"start", a}, {"end", b}};
        peak[k][f] = std::max(a, b);
        peak[k]["disturbed"] = std::max(a, b) > 1.15 * std::min(a, b);
      }
      res["peak"] = peak;
      // Fractions of this process's own peak, as the peer reports them.
      for (const char* w : {"prefill", "train", "generate"})
        for (const char* k : {"fp32", "bf16"}) {
          if (!res.contains(w) || !res[w].contains(k)) continue;
          json& r = res[w][k];
          const double pk = peak[std::string("matmul_") + k]["gflops"];
          if (r.contains("gflops_per_s")) r["fraction_of_matmul_peak"] = r["gflops_per_s"].get<double>() / pk;
          if (r.contains("decode"))
            r["decode"]["fraction_of_read_bandwidth"] =
                r["decode"]["weight_gbytes_per_s"].get<double>() / peak["read_bandwidth"]["gbytes_per_s"].get<double>();
        }
    }
    res["total_seconds"] = now_s() - t_start;

    // The table.
    std::printf("\n%-24s %14s %14s\n", "measure", "rate", "of own peak");
    if (res.contains("peak"))
      std::printf("%-24s %14s %14s\n%-24s %14s %14s\n%-24s %14s %14s\n", "matmul fp32 GFLOP/s",
                  fmt("%.1f", res["peak"]["matmul_fp32"]["gflops"]).c_str(), "1", "matmul bf16 GFLOP/s",
                  fmt("%.1f", res["peak"]["matmul_bf16"]["gflops"]).c_str(), "1", "read GB/s",
                  fmt("%.1f", res["peak"]["read_bandwidth"]["gbytes_per_s"]).c_str(), "");
    for (const char* w : {"prefill", "train", "generate"})
      for (const char* k : {"fp32", "bf16"}) {
        if (!res.contains(w) || !res[w].contains(k)) continue;
        const json& r = res[w][k];
        const std::string frac = r.contains("fraction_of_matmul_peak") ? fmt("%.2f", r["fraction_of_matmul_peak"]) : "";
        std::printf("%-24s %14s %14s\n", (std::string(w) + " " + k + " tok/s").c_str(),
                    fmt("%.1f", r["tokens_per_s"]).c_str(), std::string(w) == "generate" ? "" : frac.c_str());
        if (r.contains("decode"))
          std::printf("%-24s %14s %14s\n", (std::string("  decode ") + k + " tok/s").c_str(),
                      fmt("%.1f", r["decode"]["tokens_per_s"]).c_str(),
                      r["decode"].contains("fraction_of_read_bandwidth")
                          ? (fmt("%.2f", r["decode"]["fraction_of_read_bandwidth"]) + " bw").c_str()
                          : "");
      }
    if (!o.json_out.empty()) {
      std::ofstream(o.json_out) << res.dump(1) << "\n";
      std::printf("figures written to %s\n", o.json_out.c_str());
    }
    return 0;
  });
}
