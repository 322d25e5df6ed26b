// MobileNetV5 vision encoder of Gemma 3n (timm `mobilenetv5_300m_enc`, gemma-spec D.10), with its
// multi-scale fusion adapter. The block layout and every width are read from the checkpoint's
// tensor names and shapes (edge-residual, universal-inverted-residual and multi-query-attention
// blocks, kernel sizes, head counts, KV down-sampling), so channel multipliers and other variants
// load without code changes. Structural rules that the weights cannot show: the stem and the first
// block of every stage have stride 2 (output stride 32); the fusion adapter reads the last two
// stages. Norms are RMSNorm over channels in the input dtype, activations GELU (tanh), convolutions
// TF-style 'same' padded.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/params.h"

namespace omnitune {

using TensorShapes = std::map<std::string, std::vector<int64_t>>;

// conv (optional bias) -> optional RMSNorm over channels -> optional GELU.
struct MnConvNorm {
  std::string conv, norm;  // module names ("<x>.conv", "<x>.bn"); norm empty = none
  std::vector<int64_t> shape;  // [out, in/groups, k, k]
  bool bias = false, act = true;
  int64_t stride = 1, groups = 1;
  at::Tensor weight, bias_t, norm_weight;
  at::Tensor forward(const at::Tensor& x, double eps) const;
  void collect_params(ParamList& out);
};

struct MnBlock {
  enum class Kind { EdgeResidual, InvertedResidual, Attention } kind = Kind::InvertedResidual;
  std::string name;
  std::vector<MnConvNorm> convs;  // in order (UIR: the optional depthwise ones included)
  at::Tensor gamma;               // layer scale [C_out] or undefined
  bool has_gamma = false, skip = false;
  // Attention: norm, query/key/value/output projections, optional KV down-sampling.
  at::Tensor norm_weight;
  std::unique_ptr<MnConvNorm> q, k, v, o, k_down, v_down;
  int64_t heads = 0, key_dim = 0, value_dim = 0, channels = 0;
  at::Tensor forward(const at::Tensor& x, double eps) const;
  void collect_params(ParamList& out);
};

// The tensor shapes of timm's `mobilenetv5_300m_enc` at `channel_multiplier` (its architecture
// definition, widths rounded as timm rounds them), for building a random-weight tower without a
// checkpoint (tiny test models, benchmarks). Loading a checkpoint never uses this.
TensorShapes mobilenet_v5_300m_layout(const std::string& prefix, double channel_multiplier);

class MobileNetV5Encoder {
 public:
  // prefix: "model.vision_tower.timm_model"; shapes: the checkpoint's tensors (names with prefix).
  MobileNetV5Encoder(const std::string& prefix, const TensorShapes& shapes, int64_t msfa_output_resolution,
                     double eps);
  // pixels [N, 3, S, S] in [0, 1] -> features [N, C_out, R, R] (R = msfa_output_resolution)
  at::Tensor forward(const at::Tensor& pixels) const;
  void collect_params(ParamList& out);
  int64_t out_channels() const { return out_channels_; }
  // One line per stage: block kinds and widths (logs, tests).
  std::string describe() const;

 private:
  std::string prefix_;
  double eps_;
  int64_t resolution_, out_channels_ = 0;
  MnConvNorm stem_;
  std::vector<std::vector<std::unique_ptr<MnBlock>>> stages_;
  MnConvNorm msfa_exp_, msfa_proj_;
  at::Tensor msfa_norm_;
};

}  // namespace omnitune
