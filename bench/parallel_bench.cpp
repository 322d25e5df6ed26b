// Parallel-engine step time and traffic on CPU (issue 5 "Performance"), run under mpirun:
//   mpirun -np 2 parallel_bench [--hidden 768] [--layers 12] [--vocab 32768] [--seq 256] [--micro 1]
//                               [--accum 2] [--steps 3] [--dtype float32|bfloat16] [--threads N]
// For each mesh that fits (DP=world, TP=world), a Gemma-shaped text model (~130M parameters with
// the defaults) trains `steps` steps twice in the same run: with the next unit's all-gather
// prefetched on the comm thread, and without (synchronous). A third pass times the step's
// all-gathers alone (same units, same order, no compute). Printed: step times, the ratio, the
// share of all-gather time hidden by prefetch = (t_sync - t_prefetch) / t_gather, and bytes moved
// per step by group. Random weights and tokens; nothing is asserted (machines here are noisy).
#include <ATen/Parallel.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "dist/device_mesh.h"
#include "dist/mpi_comm.h"
#include "dist/runtime.h"
#include "parallel/sharded_adamw.h"
#include "parallel/sharded_gemma3.h"
#include "parallel/tp_linear.h"

using namespace omnitune;

namespace {

struct Args {
  int64_t hidden = 768, layers = 12, vocab = 32768, seq = 256, micro = 1;
  int accum = 2, steps = 3, threads = 0;
  std::string dtype = "float32";
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Gemma3Config bench_config(const Args& a) {
  const int64_t heads = a.hidden >= 512 ? a.hidden / 64 : 4, head_dim = a.hidden / heads;
  const std::string json = str_cat(
      R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","hidden_size":)", a.hidden,
      R"(,"intermediate_size":)", 4 * a.hidden, R"(,"num_hidden_layers":)", a.layers,
      R"(,"num_attention_heads":)", heads, R"(,"num_key_value_heads":)", heads / 2,
      R"(,"head_dim":)", head_dim, R"(,"sliding_window":128,"vocab_size":)", a.vocab,
      R"(,"query_pre_attn_scalar":)", head_dim, "}");
  return gemma3_config_parse(json, "parallel_bench");
}

struct Measure {
  double step_s = 0;
  uint64_t dp_bytes = 0, tp_bytes = 0;
};

Measure run(Comm& world, const Args& a, const Gemma3Config& cfg, int dp, int tp, bool prefetch, bool gathers_only) {
  DeviceMesh mesh(world, topology_from_mpi(MPI_COMM_WORLD), dp, tp);
  TpGroup tpg = TpGroup::of(mesh.tp());
  auto model = std::make_unique<Gemma3Model>(cfg, tp_linear_factory(cfg, tpg));
  ParamList params = model->params();
  tp_localize_shapes(cfg, params, tpg.rank, tpg.size);
  params_init_random(params, at::TensorOptions().dtype(at::kFloat), 0.02, 1);
  ShardingOptions so;
  so.compute_dtype = a.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  so.prefetch = prefetch;
  ShardComms comms{&mesh.dp_shard(), mesh.dp_replicate(), &mesh.tp()};
  ShardedGemma3 engine(std::move(model), comms, tpg, so, TrainableRule{});
  std::vector<FlatGroup*> groups;
  for (auto& u : engine.units()) groups.push_back(u->trainable());
  ShardedAdamW opt(groups, comms, AdamWOptions{});

  at::manual_seed(100 + mesh.dp_rank());
  MicroBatch mb;
  mb.inputs.input_ids = at::randint(3, cfg.text.vocab_size, {a.micro, a.seq}, at::kLong);
  mb.targets = at::randint(3, cfg.text.vocab_size, {a.micro, a.seq}, at::kLong);
  const double denom = double(a.micro * a.seq * a.accum * dp);
  CommStream sync(false);
  auto one_step = [&] {
    if (gathers_only) {
      // The all-gathers of one step (checkpointing + reshard): each block twice, embed twice, head once.
      for (int k = 0; k < a.accum; ++k) {
        for (int pass = 0; pass < 2; ++pass)
          for (auto& u : engine.units()) {
            if (pass == 1 && u->name() == "head") continue;
            u->materialize(sync);
            u->release();
          }
      }
      return;
    }
    for (int k = 0; k < a.accum; ++k) engine.forward_backward(mb, denom);
    engine.synchronize();
    opt.step(1e-4);
  };
  one_step();  // warm-up (allocator, thread pools)
  mesh.dp().reset_stats();
  mesh.tp().reset_stats();
  world.barrier();
  const double t0 = now_s();
  for (int s = 0; s < a.steps; ++s) one_step();
  world.barrier();
  Measure m;
  m.step_s = (now_s() - t0) / a.steps;
  m.dp_bytes = mesh.dp().stats().total_bytes() / a.steps;
  m.tp_bytes = mesh.tp().stats().total_bytes() / a.steps;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    Args a;
    for (int i = 1; i + 1 < ac; i += 2) {
      const std::string f = av[i], v = av[i + 1];
      if (f == "--hidden") a.hidden = std::stoll(v);
      else if (f == "--layers") a.layers = std::stoll(v);
      else if (f == "--vocab") a.vocab = std::stoll(v);
      else if (f == "--seq") a.seq = std::stoll(v);
      else if (f == "--micro") a.micro = std::stoll(v);
      else if (f == "--accum") a.accum = std::stoi(v);
      else if (f == "--steps") a.steps = std::stoi(v);
      else if (f == "--dtype") a.dtype = v;
      else if (f == "--threads") a.threads = std::stoi(v);
      else OT_FAIL("unknown option ", f);
    }
    if (a.threads > 0) at::set_num_threads(a.threads);
    auto world = MpiComm::world();
    const int n = world->size();
    const Gemma3Config cfg = bench_config(a);
    Gemma3Model probe(cfg);
    const int64_t nparams = params_numel(probe.params());
    if (rt.is_root())
      std::printf("parallel_bench: %d ranks, %.1fM parameters (hidden %lld, %lld layers, vocab %lld), %s, "
                  "micro-batch %lld x %lld tokens, accumulation %d, %d timed steps, %d threads/rank\n",
                  n, nparams / 1e6, (long long)a.hidden, (long long)a.layers, (long long)a.vocab, a.dtype.c_str(),
                  (long long)a.micro, (long long)a.seq, a.accum, a.steps, at::get_num_threads());
    if (rt.is_root())
      std::printf("%-10s %12s %12s %9s %12s %14s %12s %12s\n", "mesh", "sync s/step", "prefetch s/step", "ratio",
                  "gathers s", "hidden by pf", "DP MB/step", "TP MB/step");
    for (auto [dp, tp] : {std::pair<int, int>{n, 1}, std::pair<int, int>{1, n}}) {
      Measure sync = run(*world, a, cfg, dp, tp, false, false);
      Measure pf = run(*world, a, cfg, dp, tp, true, false);
      Measure g = run(*world, a, cfg, dp, tp, false, true);
      if (rt.is_root())
        std::printf("dp%d tp%d    %12.3f %15.3f %9.2fx %12.3f %13.0f%% %12.1f %12.1f\n", dp, tp, sync.step_s, pf.step_s,
                    sync.step_s / pf.step_s, g.step_s, 100.0 * (sync.step_s - pf.step_s) / std::max(1e-9, g.step_s),
                    pf.dp_bytes / 1e6, pf.tp_bytes / 1e6);
    }
    return 0;
  });
}
