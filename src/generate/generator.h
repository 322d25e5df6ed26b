// Batched generation with a KV cache: left-padded prompts (positions = cumsum(mask) - 1, as HF
// generate()), one prefill, then one-token decode steps until every row hit a stop id or the
// budget. use_cache=false recomputes the whole sequence each step: the yardstick for tests and
// the baseline of the decode benchmark.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "generate/sampler.h"
#include "model/gemma3_model.h"
#include "model/gemma3n_model.h"

namespace omnitune {

struct GenerateRequest {
  at::Tensor input_ids;       // [B, T] left-padded
  at::Tensor attention_mask;  // [B, T] or undefined (no padding)
  at::Tensor pixel_values;    // images of the prompts, batch-major, or undefined
  at::Tensor token_type_ids;  // [B, T] or undefined (Gemma 3 only)
  at::Tensor audio_features;  // Gemma 3n: log-mel clips [N, frames, mel] in prompt order, or undefined
  at::Tensor audio_pad;       // [N, frames] true = padding frame
  int64_t max_new_tokens = 64;
  std::vector<int64_t> stop_ids;  // e.g. <eos>, <end_of_turn>
  int64_t pad_id = 0;
  bool use_cache = true;
};

struct GenerateResult {
  at::Tensor tokens;             // [B, max_new_tokens] int64, pad_id after a row stopped
  std::vector<int64_t> lengths;  // new tokens per row, including the stop token
  int64_t prefill_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

GenerateResult generate(const Gemma3Model& model, const GenerateRequest& req, const SamplingOptions& sampling);
// Gemma 3n: the same loop; KV-shared layers read their source layer's cache (they own none).
GenerateResult generate(const Gemma3nModel& model, const GenerateRequest& req, const SamplingOptions& sampling);

}  // namespace omnitune
