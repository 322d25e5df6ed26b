// Sampling filters as HF's TopKLogitsWarper / TopPLogitsWarper define them.
#include "generate/sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>

namespace omnitune {

Sampler::Sampler(const SamplingOptions& opt)
    : opt_(opt), gen_(at::make_generator<at::CPUGeneratorImpl>(opt.seed)) {}

at::Tensor Sampler::filtered_scores(const at::Tensor& logits) const {
  const double neg_inf = -std::numeric_limits<double>::infinity();
  at::Tensor s = logits.to(at::kFloat);
  if (opt_.temperature != 1.0) s = s / opt_.temperature;
  if (opt_.top_k > 0 && opt_.top_k < s.size(-1)) {
    at::Tensor kth = std::get<0>(s.topk(opt_.top_k, -1)).narrow(-1, opt_.top_k - 1, 1);
    s = s.masked_fill(s < kth, neg_inf);
  }
  if (opt_.top_p < 1.0) {
    auto sorted = s.sort(-1, /*descending=*/false);
    at::Tensor vals = std::get<0>(sorted), idx = std::get<1>(sorted);
    at::Tensor cum = vals.softmax(-1).cumsum(-1);
    at::Tensor remove_sorted = cum <= (1.0 - opt_.top_p);
    remove_sorted.select(-1, remove_sorted.size(-1) - 1).fill_(false);  // keep the best token
    at::Tensor remove = at::zeros_like(remove_sorted).scatter(-1, idx, remove_sorted);
    s = s.masked_fill(remove, neg_inf);
  }
  return s;
}

at::Tensor Sampler::next(const at::Tensor& logits) {
  if (opt_.greedy) return logits.argmax(-1);
  at::Tensor probs = filtered_scores(logits).softmax(-1);
  return at::multinomial(probs.cpu(), 1, false, gen_).squeeze(-1).to(logits.device());
}

}  // namespace omnitune
