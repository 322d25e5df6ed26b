// Gemma 3n text decoder (gemma-spec D.2-D.5): four AltUp streams around every layer (predict,
// run the layer on the active stream, correct), the Laurel low-rank residual, per-layer embeddings
// (PLE) injected after each layer, KV sharing (the last layers attend with the K/V of the last
// earlier layer of their type, with or without a cache), Gaussian top-k activation sparsity,
// per-layer MLP widths, the 3n RMSNorm (gain stored as is), attention scale 1 and final logit
// soft-capping. Architecture only: linear layers come from a LinearFactory, names are HF's.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/decoder_context.h"
#include "model/gemma3n_config.h"
#include "nn/kv_cache.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace omnitune {

// The K/V a layer attended over in this forward call (cached slots + the call's own keys), kept for
// the KV-shared layers that read it.
struct SharedKV {
  at::Tensor k, v, idx, valid;
};

struct Gemma3nAltUp {
  std::string name;  // "<layer>.altup"
  int64_t num_inputs = 4, active = 0;
  double coef_clip = 120.0;  // applied to both coefficient matrices whenever they are used
  double router_input_scale = 1.0;  // 1 / hidden_size
  at::Tensor correct_output_scale;  // [D]
  at::Tensor correction_coefs;      // [n, n]
  at::Tensor prediction_coefs;      // [n*n, n]
  at::Tensor modality_router;       // [n, D]
  RmsNorm router_norm;

  // streams [n, B, T, D] -> predictions [n, B, T, D]
  at::Tensor predict(const at::Tensor& streams) const;
  // predictions [n, B, T, D], activated [B, T, D] (the layer's output for the active stream)
  at::Tensor correct(const at::Tensor& predictions, const at::Tensor& activated) const;
  void collect_params(ParamList& out);

 private:
  at::Tensor modalities(const at::Tensor& x) const;  // tanh(router(norm(x) / D)) [B, T, n]
};

struct Gemma3nAttention {
  std::unique_ptr<Linear> q_proj, k_proj, v_proj, o_proj;  // k/v null on KV-shared layers
  RmsNorm q_norm, k_norm, v_norm;                          // k_norm unused on KV-shared layers
  int64_t head_dim = 0;
  int64_t window = 0;      // 0 = full attention
  int64_t kv_source = -1;  // KV-shared layers: the layer whose K/V they use
  bool keeps_kv = false;   // last non-shared layer of its type: shared layers read its K/V

  // `shared` holds one entry per layer; this layer reads kv_source's or fills its own.
  at::Tensor forward(const at::Tensor& x, const DecoderContext& ctx, LayerKV* cache,
                     std::vector<SharedKV>& shared, int64_t layer) const;
};

struct Gemma3nMlp {
  std::unique_ptr<Linear> gate_proj, up_proj, down_proj;
  double sparsity = 0;  // Gaussian top-k target (0 = dense)
  // Sparsity's mean and std run over the full MLP width. When the layer holds only a slice of the
  // features (tensor parallelism), the engine sets width and a sum over the slices (all-reduce
  // forward and backward); null = this layer holds every feature.
  int64_t width = 0;
  std::function<at::Tensor(const at::Tensor&)> feature_sum;
  at::Tensor forward(const at::Tensor& x) const;
};

struct Gemma3nDecoderLayer {
  std::string name;  // "model.language_model.layers.3"
  int64_t index = 0;
  bool sliding = true;
  Gemma3nAltUp altup;
  Gemma3nAttention self_attn;
  Gemma3nMlp mlp;
  std::unique_ptr<Linear> laurel_left, laurel_right;              // D -> rank -> D
  RmsNorm post_laurel_norm;
  std::unique_ptr<Linear> per_layer_input_gate, per_layer_projection;  // D -> P -> D
  RmsNorm input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm,
      post_per_layer_input_norm;

  // streams [n, B, T, D], per_layer_input [B, T, P] -> streams [n, B, T, D]
  at::Tensor forward(const at::Tensor& streams, const at::Tensor& per_layer_input, const DecoderContext& ctx,
                     LayerKV* cache, std::vector<SharedKV>& shared) const;
  void collect_params(ParamList& out);
};

class Gemma3nTextModel {
 public:
  // prefix: "model.language_model" (Gemma3nForConditionalGeneration layout).
  Gemma3nTextModel(const Gemma3nTextConfig& cfg, const std::string& prefix, const LinearFactory& make_linear);

  // input_ids [B, T] -> embeddings [B, T, D] scaled by sqrt(D) (rounded to the weight dtype).
  // Ids outside the text vocabulary must be replaced by the caller (the multimodal embedders).
  at::Tensor embed(const at::Tensor& input_ids) const;
  // Per-layer token embeddings [B, T, L, P] (ids outside the PLE table read row 0), times sqrt(P).
  at::Tensor per_layer_tokens(const at::Tensor& input_ids) const;
  // The per-layer inputs the layers receive: the projection of the (merged) embeddings, normed,
  // averaged with the token part (undefined: the projection alone). [B, T, L, P]
  at::Tensor per_layer_inputs(const at::Tensor& embeds, const at::Tensor& tokens) const;

  DecoderContext make_context(const at::Tensor& rope_pos, const at::Tensor& valid, int64_t start,
                              AttentionImpl impl, at::ScalarType dtype) const;
  // embeds [B, T, D], per_layer_inputs [B, T, L, P] -> final hidden [B, T, D] (normed). `cache`
  // holds the non-shared layers only (see cache_windows). stream_outputs, when given, receives the
  // initial AltUp streams and the streams after every layer, each [n, B, T, D].
  at::Tensor forward(const at::Tensor& embeds, const at::Tensor& per_layer_inputs, const DecoderContext& ctx,
                     KVCache* cache, std::vector<at::Tensor>* stream_outputs = nullptr) const;
  // The two ends of forward, for engines that run the layers themselves: embeddings [B, T, D] ->
  // initial AltUp streams [n, B, T, D]; final streams -> final-norm hidden [B, T, D].
  at::Tensor streams_in(const at::Tensor& embeds) const;
  at::Tensor streams_out(const at::Tensor& streams) const;
  // hidden [.., D] -> soft-capped logits [.., vocab] through the tied embedding.
  at::Tensor logits(const at::Tensor& hidden) const;

  void collect_params(ParamList& out);
  // True for checkpoint tensors this architecture ignores: K/V projections and k_norm of
  // KV-shared layers (present in the Hub checkpoints, never used).
  bool unused_checkpoint_tensor(const std::string& name) const;
  // Windows of the layers that own a cache (every layer before the first KV-shared one).
  std::vector<int64_t> cache_windows() const;

  const Gemma3nTextConfig& config() const { return cfg_; }
  std::vector<std::unique_ptr<Gemma3nDecoderLayer>>& layers() { return layers_; }

  at::Tensor embed_tokens;            // [vocab, D]; also the LM head (tied)
  at::Tensor embed_tokens_per_layer;  // [vocab_per_layer, L*P]
  std::unique_ptr<Linear> per_layer_model_projection;  // D -> L*P
  RmsNorm per_layer_projection_norm;                   // over P
  std::vector<std::unique_ptr<Linear>> altup_projections, altup_unembed_projections;  // n-1 each, D -> D
  RmsNorm norm;

 private:
  // streams[k] for k >= 1 rescaled to the RMS of stream 0 (AltUp's magnitude matching).
  at::Tensor match_magnitude(const at::Tensor& x, const at::Tensor& target_rms) const;

  Gemma3nTextConfig cfg_;
  std::string prefix_;
  std::vector<std::unique_ptr<Gemma3nDecoderLayer>> layers_;
};

}  // namespace omnitune
