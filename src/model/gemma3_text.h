// Gemma 3 text decoder (gemma-spec A): scaled embeddings, interleaved sliding/global decoder
// layers with q/k norms, GQA and sandwich norms, final norm, tied LM head. Architecture only: no
// parallelism here. Linear layers come from a LinearFactory and each decoder layer is a unit the
// parallel engine can wrap; parameter names are the HF names under `prefix`.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "model/decoder_context.h"
#include "model/gemma3_config.h"
#include "nn/attention.h"
#include "nn/kv_cache.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/rope.h"

namespace omnitune {

struct Gemma3Attention {
  std::unique_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  RmsNorm q_norm, k_norm;
  int64_t head_dim = 0;
  double scale = 1.0;
  int64_t window = 0;  // 0 = full attention

  at::Tensor forward(const at::Tensor& x, const DecoderContext& ctx, LayerKV* cache) const;
};

struct Gemma3Mlp {
  std::unique_ptr<Linear> gate_proj, up_proj, down_proj;
  bool tanh_gelu = true;
  at::Tensor forward(const at::Tensor& x) const;
};

struct Gemma3DecoderLayer {
  std::string name;  // e.g. "model.language_model.layers.3"
  bool sliding = true;
  Gemma3Attention self_attn;
  Gemma3Mlp mlp;
  RmsNorm input_layernorm, post_attention_layernorm, pre_feedforward_layernorm,
      post_feedforward_layernorm;

  at::Tensor forward(const at::Tensor& h, const DecoderContext& ctx, LayerKV* cache) const;
  void collect_params(ParamList& out);
};

class Gemma3TextModel {
 public:
  // prefix: "model.language_model" (multimodal) or "model" (Gemma3ForCausalLM).
  Gemma3TextModel(const Gemma3TextConfig& cfg, const std::string& prefix, const LinearFactory& make_linear);

  // input_ids [B, T] -> scaled embeddings [B, T, D] (scale sqrt(D) rounded to the weight dtype).
  at::Tensor embed(const at::Tensor& input_ids) const;
  // sqrt(D) as a scalar tensor of options' dtype (the parallel engine embeds vocab-parallel itself).
  at::Tensor embed_scale(const at::TensorOptions& options) const;

  // Builds the shared context: RoPE tables (in `dtype`) from rope_pos [B, T], sequence indices
  // from start.
  DecoderContext make_context(const at::Tensor& rope_pos, const at::Tensor& valid, const at::Tensor& group,
                              int64_t start, AttentionImpl impl, at::ScalarType dtype) const;

  // Runs every layer and the final norm. cache may be null (no cache). layer_outputs, when given,
  // receives the residual stream after each layer (parity tests).
  at::Tensor forward(const at::Tensor& embeds, const DecoderContext& ctx, KVCache* cache,
                     std::vector<at::Tensor>* layer_outputs = nullptr) const;

  // hidden [.., D] -> logits [.., vocab] through the tied head (+ soft-capping if configured).
  at::Tensor logits(const at::Tensor& hidden) const;

  void collect_params(ParamList& out);
  const Gemma3TextConfig& config() const { return cfg_; }
  const std::string& prefix() const { return prefix_; }
  std::vector<std::unique_ptr<Gemma3DecoderLayer>>& layers() { return layers_; }
  // Windows per layer (0 = full), for building a KVCache.
  std::vector<int64_t> cache_windows() const;

  at::Tensor embed_tokens;  // [vocab, D]; also the LM head (tied)
  RmsNorm norm;

 private:
  Gemma3TextConfig cfg_;
  std::string prefix_;
  std::vector<std::unique_ptr<Gemma3DecoderLayer>> layers_;
};

}  // namespace omnitune
