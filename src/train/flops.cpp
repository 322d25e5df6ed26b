#include "train/flops.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>

namespace omnitune {

double causal_attention_pairs(int64_t length, int64_t window) {
  const double n = double(length);
  if (window <= 0 || length <= window) return n * (n + 1) / 2;
  const double w = double(window);
  return w * (w + 1) / 2 + (n - w) * w;  // the first w queries see 1..w keys, the rest w each
}

namespace {

// Attention pairs of the step (exact when the trainer counted them, else the average-length estimate).
void step_pairs(const StepShape& s, int64_t window, double& global, double& sliding) {
  global = s.pairs_global;
  sliding = s.pairs_sliding;
  if (global >= 0 && sliding >= 0) return;
  const int64_t avg_len = s.sequences > 0 ? s.tokens / s.sequences : 0;
  global = double(s.sequences) * causal_attention_pairs(avg_len, 0);
  sliding = double(s.sequences) * causal_attention_pairs(avg_len, window);
}

}  // namespace

double train_step_flops(const Gemma3Config& cfg, const StepShape& s) {
  const auto& t = cfg.text;
  const double D = double(t.hidden_size), F = double(t.intermediate_size), hd = double(t.head_dim);
  const double H = double(t.num_attention_heads), KV = double(t.num_key_value_heads);
  // Matmul parameters of one block (q, k, v, o, gate, up, down) and the tied LM head.
  const double block = D * H * hd + 2 * D * KV * hd + H * hd * D + 3 * D * F;
  const double lm = double(t.num_hidden_layers) * block + D * double(t.vocab_size);
  double flops = (s.lm_weights_trained ? 6.0 : 4.0) * lm * double(s.tokens);
  double pairs_global = 0, pairs_sliding = 0;
  step_pairs(s, t.sliding_window, pairs_global, pairs_sliding);
  for (int64_t l = 0; l < t.num_hidden_layers; ++l)
    flops += 12.0 * H * hd * (t.layer_is_sliding.at(l) ? pairs_sliding : pairs_global);
  if (cfg.has_vision && s.images > 0) {
    const auto& v = cfg.vision;
    const double vD = double(v.hidden_size), vF = double(v.intermediate_size);
    const double patches = double(v.image_size / v.patch_size) * double(v.image_size / v.patch_size);
    const double vparams = double(v.num_hidden_layers) * (4 * vD * vD + 2 * vD * vF) + vD * D;
    const double attn = double(v.num_hidden_layers) * 4 * vD * patches * patches;  // fwd scores + values
    flops += (s.vision_trained ? 3.0 : 1.0) * (2.0 * vparams * patches + attn) * double(s.images);
  }
  return flops;
}

double train_step_flops(const Gemma3nConfig& cfg, const StepShape& s) {
  const auto& t = cfg.text;
  const double D = double(t.hidden_size), hd = double(t.head_dim), P = double(t.hidden_size_per_layer_input);
  const double H = double(t.num_attention_heads), KV = double(t.num_key_value_heads);
  const int64_t first_shared = t.first_kv_shared_layer();
  double lm = D * double(t.vocab_size) + D * double(t.num_hidden_layers) * P +
              2.0 * double(t.altup_num_inputs - 1) * D * D;  // LM head, PLE projection, AltUp in/out
  for (int64_t l = 0; l < t.num_hidden_layers; ++l) {
    const bool owns_kv = first_shared <= 0 || l < first_shared;
    lm += 2 * D * H * hd + (owns_kv ? 2 * D * KV * hd : 0.0) + 3 * D * double(t.intermediate_size.at(size_t(l))) +
          2 * D * double(t.laurel_rank) + 2 * D * P;
  }
  double flops = (s.lm_weights_trained ? 6.0 : 4.0) * lm * double(s.tokens);
  double pairs_global = 0, pairs_sliding = 0;
  step_pairs(s, t.sliding_window, pairs_global, pairs_sliding);
  for (int64_t l = 0; l < t.num_hidden_layers; ++l)
    flops += 12.0 * H * hd * (t.layer_is_sliding.at(size_t(l)) ? pairs_sliding : pairs_global);
  return flops;
}

double measure_matmul_flops(at::ScalarType dtype, int64_t n) {
  at::NoGradGuard no_grad;
  at::Tensor a = at::randn({n, n}).to(dtype), b = at::randn({n, n}).to(dtype);
  at::mm(a, b);  // warm-up
  int reps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double dt = 0;
  do {
    at::mm(a, b);
    ++reps;
    dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (dt < 0.2);
  return 2.0 * double(n) * double(n) * double(n) * reps / dt;
}

int64_t peak_rss_bytes() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

}  // namespace omnitune
