// Gemma 3n audio encoder (gemma-spec D.9, HF Gemma3nAudioEncoder): the USM-style Conformer.
// Log-mel frames [B, T, F] go through two stride-2 convolutions with cumulative group norm and a
// linear projection (the sub-sample conv projection), then Conformer blocks (half-step feed-forward,
// local self-attention with relative positions and a logit cap, a causal depthwise light
// convolution, half-step feed-forward, norm), and every `reduction_factor`-th frame is kept.
// Local attention is computed in closed form over the whole sequence (query t sees keys
// t - (context_left - 1) .. t that are not padding), which gives HF's block-wise values.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "model/gemma3n_config.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace omnitune {

struct Gemma3nAudioFeedForward {
  RmsNorm pre_layer_norm, post_layer_norm;
  std::unique_ptr<Linear> ffw_layer_1, ffw_layer_2;
  at::Tensor forward(const at::Tensor& x, double clip, double residual_weight) const;
  void collect_params(ParamList& out);
};

struct Gemma3nAudioAttention {
  RmsNorm pre_attn_norm, post_norm;
  std::unique_ptr<Linear> q_proj, k_proj, v_proj, pos_proj, post;
  at::Tensor per_dim_scale;  // [head_dim], softplus'ed
  std::string name;          // "<block>.attention"
  int64_t heads = 0, head_dim = 0, max_past = 0;  // max_past = context_left - 1
  double logit_cap = 50.0;
  // x [B, T, C], pad [B, T] (true = padding) -> x + attention branch
  at::Tensor forward(const at::Tensor& x, const at::Tensor& pad, double clip) const;
  void collect_params(ParamList& out);
};

struct Gemma3nAudioLightConv {
  std::string name;  // "<block>.lconv1d"
  RmsNorm pre_layer_norm, conv_norm;
  std::unique_ptr<Linear> linear_start, linear_end;
  at::Tensor depthwise_weight;  // [C, 1, kernel]
  int64_t kernel = 5;
  at::Tensor forward(const at::Tensor& x, double clip) const;
  void collect_params(ParamList& out);
};

struct Gemma3nConformerBlock {
  Gemma3nAudioFeedForward ffw_start, ffw_end;
  Gemma3nAudioAttention attention;
  Gemma3nAudioLightConv lconv;
  RmsNorm norm;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& pad, double clip, double residual_weight) const;
  void collect_params(ParamList& out);
};

class Gemma3nAudioEncoder {
 public:
  // prefix: "model.audio_tower".
  Gemma3nAudioEncoder(const Gemma3nAudioConfig& cfg, const std::string& prefix, const LinearFactory& make_linear);

  struct Output {
    at::Tensor hidden;  // [B, T', C], padded frames zero
    at::Tensor pad;     // [B, T'] true = padding
  };
  // mel [B, T, F] float; mel_pad [B, T] true = padding frame.
  Output forward(const at::Tensor& mel, const at::Tensor& mel_pad) const;
  // Frames out for T mel frames (before reduction to soft tokens: divide by the reduction factor).
  int64_t frames_after_subsampling(int64_t T) const;
  void collect_params(ParamList& out);
  const Gemma3nAudioConfig& config() const { return cfg_; }

 private:
  struct ConvBlock {
    std::string name;
    at::Tensor weight;      // [C_out, C_in, kh, kw]
    at::Tensor norm_weight; // [C_out] cumulative group norm scale
    int64_t stride_t = 2, stride_f = 2;
  };
  at::Tensor conv_block(const ConvBlock& b, const at::Tensor& x) const;  // [B, C, T, F] -> same layout

  Gemma3nAudioConfig cfg_;
  std::string prefix_;
  std::vector<ConvBlock> convs_;
  std::unique_ptr<Linear> input_proj_linear_;
  std::vector<std::unique_ptr<Gemma3nConformerBlock>> blocks_;
};

}  // namespace omnitune
