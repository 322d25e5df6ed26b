// Generation loop. Finished rows keep being fed (their outputs are discarded) so the batch stays
// rectangular; the loop ends as soon as every row has stopped.
#include "generate/generator.h"

#include <chrono>

#include "core/error.h"

namespace omnitune {

namespace {

// The loop shared by every model. `last_logits(ids, mask, pos, cache, first)` runs the model on
// the given tokens (with the prompt's media when `first` or without a cache) and returns the logits
// of the last position [B, V].
template <typename Model, typename LastLogits>
GenerateResult run_generation(const Model& model, const GenerateRequest& req, const SamplingOptions& sampling,
                              LastLogits last_logits) {
  OT_REQUIRE(req.input_ids.defined() && req.input_ids.dim() == 2, "generate: input_ids must be [batch, tokens]");
  const int64_t B = req.input_ids.size(0), T = req.input_ids.size(1), N = req.max_new_tokens;
  auto opts_long = req.input_ids.options().dtype(at::kLong);
  at::Tensor mask = req.attention_mask.defined() ? req.attention_mask.to(at::kLong) : at::ones({B, T}, opts_long);
  // HF generate(): position = number of real tokens before, pads get 1.
  at::Tensor pos = (mask.cumsum(1) - 1).masked_fill(mask == 0, 1);
  Sampler sampler(sampling);
  GenerateResult res;
  res.tokens = at::full({B, N}, req.pad_id, opts_long);
  res.lengths.assign(B, 0);
  res.prefill_tokens = B * T;
  std::vector<bool> done(B, false);
  auto is_stop = [&](int64_t id) {
    for (int64_t s : req.stop_ids) if (s == id) return true;
    return false;
  };

  auto t0 = std::chrono::steady_clock::now();
  KVCache cache = model.make_cache(B, T + N);
  KVCache* kv = req.use_cache ? &cache : nullptr;
  at::Tensor ids = req.input_ids, full_mask = mask, full_pos = pos;
  at::Tensor logits = last_logits(ids, mask, pos, kv, true);
  res.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto t1 = std::chrono::steady_clock::now();
  at::Tensor last_pos = pos.select(1, T - 1);
  for (int64_t step = 0; step < N; ++step) {
    at::Tensor next = sampler.next(logits);  // [B]
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      int64_t id = next[b].item<int64_t>();
      res.tokens[b][step] = id;
      res.lengths[b]++;
      if (is_stop(id)) done[b] = true;
      all_done = all_done && done[b];
    }
    if (all_done || step + 1 == N) break;
    last_pos = last_pos + 1;
    at::Tensor step_ids = next.unsqueeze(1);
    at::Tensor step_mask = at::ones({B, 1}, opts_long);
    if (kv) {
      logits = last_logits(step_ids, step_mask, last_pos.unsqueeze(1), kv, false);
    } else {
      // Recompute everything: the same inputs the cache path saw, as one sequence.
      ids = at::cat({ids, step_ids}, 1);
      full_mask = at::cat({full_mask, step_mask}, 1);
      full_pos = at::cat({full_pos, last_pos.unsqueeze(1)}, 1);
      logits = last_logits(ids, full_mask, full_pos, nullptr, false);
    }
  }
  res.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return res;
}

}  // namespace

GenerateResult generate(const Gemma3Model& model, const GenerateRequest& req, const SamplingOptions& sampling) {
  return run_generation(model, req, sampling, [&](const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& pos,
                                                  KVCache* kv, bool first) {
    Gemma3Inputs in{ids, {}, {}, mask, pos};
    if (first || !kv) {
      in.pixel_values = req.pixel_values;
      // Generated tokens are text: their token types are 0.
      if (req.token_type_ids.defined())
        in.token_type_ids = at::constant_pad_nd(req.token_type_ids, {0, ids.size(1) - req.token_type_ids.size(1)});
    }
    at::Tensor h = model.forward_hidden(in, kv);
    return model.text().logits(h.select(1, h.size(1) - 1));
  });
}

GenerateResult generate(const Gemma3nModel& model, const GenerateRequest& req, const SamplingOptions& sampling) {
  return run_generation(model, req, sampling, [&](const at::Tensor& ids, const at::Tensor& mask, const at::Tensor& pos,
                                                  KVCache* kv, bool first) {
    Gemma3nInputs in;
    in.input_ids = ids;
    in.attention_mask = mask;
    in.position_ids = pos;
    if (first || !kv) {
      in.pixel_values = req.pixel_values;
      in.audio_features = req.audio_features;
      in.audio_pad = req.audio_pad;
    }
    at::Tensor h = model.forward_hidden(in, kv);
    return model.text().logits(h.select(1, h.size(1) - 1));
  });
}

}  // namespace omnitune
