// Gemma 3n multimodal embedder (gemma-spec D.7), one for vision and one for audio: maps the
// modality's hard token ids (a 128-row table at vocab_offset) or its encoder's soft features into
// the text model's space. Both paths: RMSNorm (own gain) -> projection C -> D -> RMSNorm without
// gain. The outputs are not scaled by sqrt(D).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "nn/linear.h"
#include "nn/norm.h"

namespace omnitune {

struct Gemma3nEmbedder {
  // name: "model.embed_vision" or "model.embed_audio"; C: the tower's width; D: the text width.
  Gemma3nEmbedder(const std::string& name, int64_t vocab_offset, int64_t vocab_size, int64_t C, int64_t D,
                  double eps, const LinearFactory& make_linear);

  // ids [..] in [vocab_offset, vocab_offset + vocab_size) -> [.., D]
  at::Tensor hard(const at::Tensor& ids) const;
  // features [.., C] -> [.., D]
  at::Tensor soft(const at::Tensor& features) const;
  // True where ids belong to this embedder's table.
  at::Tensor owns(const at::Tensor& ids) const;
  void collect_params(ParamList& out);

  std::string name;
  int64_t vocab_offset = 0, vocab_size = 0, width = 0;
  at::Tensor embedding;  // [vocab_size, C]
  RmsNorm hard_embedding_norm, soft_embedding_norm, embedding_post_projection_norm;
  std::unique_ptr<Linear> embedding_projection;

 private:
  at::Tensor project(const at::Tensor& normed) const;
};

}  // namespace omnitune
