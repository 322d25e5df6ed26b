// SigLIP vision tower (gemma-spec B.1) and the Gemma 3 multi-modal projector (B.2): patch conv
// with bias, learned positions, pre-LN encoder layers with bidirectional attention and GELU-tanh
// MLPs, post-LN; then average pooling to mm_tokens_per_image, the (1 + w) RMSNorm, and the raw
// [vision_hidden, text_hidden] projection. Parameter names are HF's under their prefixes.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "model/gemma3_config.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace omnitune {

struct SiglipEncoderLayer {
  std::string name;
  LayerNorm layer_norm1, layer_norm2;
  std::unique_ptr<Linear> q_proj, k_proj, v_proj, out_proj, fc1, fc2;
  int64_t head_dim = 0;
  at::Tensor forward(const at::Tensor& h, AttentionImpl impl) const;
  void collect_params(ParamList& out);
};

class SiglipVisionModel {
 public:
  // prefix: "model.vision_tower.vision_model".
  SiglipVisionModel(const SiglipVisionConfig& cfg, const std::string& prefix, const LinearFactory& make_linear);
  // pixel_values [N, C, H, W] (normalised) -> last hidden state [N, patches, hidden].
  at::Tensor forward(const at::Tensor& pixel_values, AttentionImpl impl) const;
  void collect_params(ParamList& out);
  const SiglipVisionConfig& config() const { return cfg_; }

  at::Tensor patch_weight, patch_bias;  // embeddings.patch_embedding.{weight,bias}
  at::Tensor position_embedding;        // embeddings.position_embedding.weight [patches, hidden]
  LayerNorm post_layernorm;

 private:
  SiglipVisionConfig cfg_;
  std::string prefix_;
  std::vector<std::unique_ptr<SiglipEncoderLayer>> layers_;
};

struct Gemma3Projector {
  std::string name;           // "model.multi_modal_projector"
  int64_t vision_hidden = 0, text_hidden = 0, tokens_per_image = 0;
  at::Tensor mm_input_projection_weight;  // [vision_hidden, text_hidden], used as x @ W
  RmsNorm mm_soft_emb_norm;
  // vision [N, patches, vision_hidden] -> [N, tokens_per_image, text_hidden]
  at::Tensor forward(const at::Tensor& vision) const;
  void collect_params(ParamList& out);
};

}  // namespace omnitune
