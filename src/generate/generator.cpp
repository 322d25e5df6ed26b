// Generation loop. Finished rows keep being fed (their outputs are discarded) so the batch stays
// rectangular; the loop ends as soon as every row has stopped.
#include "generate/generator.h"

#include <chrono>

#include "core/error.h"

namespace omnitune {

GenerateResult generate(const Gemma3Model& model, const GenerateRequest& req, const SamplingOptions& sampling) {
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
  Gemma3Inputs in{req.input_ids, req.pixel_values, req.token_type_ids, mask, pos};
  at::Tensor ids = req.input_ids, full_mask = mask, full_pos = pos, full_tt = req.token_type_ids;
  at::Tensor hidden = model.forward_hidden(in, req.use_cache ? &cache : nullptr);
  at::Tensor logits = model.text().logits(hidden.select(1, T - 1));
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
    if (req.use_cache) {
      Gemma3Inputs s{step_ids, {}, {}, step_mask, last_pos.unsqueeze(1)};
      logits = model.text().logits(model.forward_hidden(s, &cache).select(1, 0));
    } else {
      // Recompute everything: the same inputs the cache path saw, as one sequence.
      ids = at::cat({ids, step_ids}, 1);
      full_mask = at::cat({full_mask, step_mask}, 1);
      full_pos = at::cat({full_pos, last_pos.unsqueeze(1)}, 1);
      if (full_tt.defined()) full_tt = at::cat({full_tt, at::zeros({B, 1}, opts_long)}, 1);
      Gemma3Inputs s{ids, req.pixel_values, full_tt, full_mask, full_pos};
      at::Tensor h = model.forward_hidden(s, nullptr);
      logits = model.text().logits(h.select(1, h.size(1) - 1));
    }
  }
  res.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return res;
}

}  // namespace omnitune
