#include "model/gemma3n_embedder.h"

#include "core/error.h"

namespace omnitune {

Gemma3nEmbedder::Gemma3nEmbedder(const std::string& name_, int64_t vocab_offset_, int64_t vocab_size_, int64_t C,
                                 int64_t D, double eps, const LinearFactory& make_linear)
    : name(name_), vocab_offset(vocab_offset_), vocab_size(vocab_size_), width(C) {
  hard_embedding_norm = RmsNorm{name + ".hard_embedding_norm", C, eps, false, {}};
  soft_embedding_norm = RmsNorm{name + ".soft_embedding_norm", C, eps, false, {}};
  embedding_post_projection_norm = RmsNorm{name + ".embedding_post_projection_norm", D, eps, false, {}};
  embedding_projection = make_linear({name + ".embedding_projection", C, D, false});
}

at::Tensor Gemma3nEmbedder::project(const at::Tensor& normed) const {
  return embedding_post_projection_norm.forward(embedding_projection->forward(normed));
}

at::Tensor Gemma3nEmbedder::hard(const at::Tensor& ids) const {
  return project(hard_embedding_norm.forward(at::embedding(embedding, ids - vocab_offset)));
}

at::Tensor Gemma3nEmbedder::soft(const at::Tensor& features) const {
  OT_CHECK(features.size(-1) == width, name, ": features of width ", features.size(-1), ", expected ", width);
  return project(soft_embedding_norm.forward(features));
}

at::Tensor Gemma3nEmbedder::owns(const at::Tensor& ids) const {
  return ids.ge(vocab_offset).logical_and(ids.lt(vocab_offset + vocab_size));
}

void Gemma3nEmbedder::collect_params(ParamList& out) {
  out.push_back({name + ".embedding.weight", &embedding, {vocab_size, width}});
  hard_embedding_norm.collect_params(out);
  soft_embedding_norm.collect_params(out);
  embedding_projection->collect_params(out);
}

}  // namespace omnitune
