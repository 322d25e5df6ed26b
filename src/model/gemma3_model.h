// The whole Gemma 3 model: Gemma3ForConditionalGeneration (SigLIP + projector + text decoder) or
// the text-only Gemma3ForCausalLM, chosen by config.json. Image features replace the embeddings
// at <image_soft_token> positions (gemma-spec B.3); token_type_ids switch on bidirectional
// attention among the tokens of each image (A.9). Internal parameter names are the HF names of
// transformers >= 4.52 ("model.language_model.*"); the loader also accepts the hub's legacy ones.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "model/gemma3_config.h"
#include "model/gemma3_text.h"
#include "model/siglip.h"
#include "nn/kv_cache.h"

namespace omnitune {

struct Gemma3Inputs {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor pixel_values;    // [N, 3, S, S] normalised, one per image in the batch (batch-major), or undefined
  at::Tensor token_type_ids;  // [B, T]: 1 at image soft tokens; enables the bidirectional image overlay
  at::Tensor attention_mask;  // [B, T] 1 = real token, 0 = padding; undefined = all real
  at::Tensor position_ids;    // [B, T] RoPE positions; undefined = start, start+1, ... for every row
};

class Gemma3Model {
 public:
  explicit Gemma3Model(const Gemma3Config& cfg, const LinearFactory& make_linear = dense_linear_factory());

  // Image features [N, mm_tokens_per_image, D] from pixel values.
  at::Tensor image_features(const at::Tensor& pixel_values) const;
  // input_ids with out-of-table image ids replaced by 0 (their rows are overwritten by features).
  at::Tensor embedding_ids(const at::Tensor& input_ids) const;
  // embeds with rows at image-token positions replaced by feats [N, tokens, D] (count checked).
  at::Tensor merge_image_features(const at::Tensor& embeds, const at::Tensor& input_ids,
                                  const at::Tensor& feats) const;
  // Scaled text embeddings with image features scattered at image-token positions.
  at::Tensor embed_inputs(const at::Tensor& input_ids, const at::Tensor& pixel_values) const;

  // Final-norm hidden states [B, T, D]. With a cache, the call continues from cache->length().
  at::Tensor forward_hidden(const Gemma3Inputs& in, KVCache* cache = nullptr,
                            std::vector<at::Tensor>* layer_outputs = nullptr,
                            at::Tensor* embeds_out = nullptr) const;
  // Positions, masks and RoPE tables (in `dtype`) shared by every layer of one forward call.
  DecoderContext make_context(const Gemma3Inputs& in, int64_t start, at::ScalarType dtype) const;
  at::Tensor forward_logits(const Gemma3Inputs& in, KVCache* cache = nullptr) const;

  // A cache sized for `capacity` tokens of `batch` rows.
  KVCache make_cache(int64_t batch, int64_t capacity) const;

  void collect_params(ParamList& out);
  // The vision tower's and the projector's parameters (empty for text-only models).
  void collect_vision_params(ParamList& out);
  ParamList params();
  const Gemma3Config& config() const { return cfg_; }
  Gemma3TextModel& text() { return *text_; }
  const Gemma3TextModel& text() const { return *text_; }
  SiglipVisionModel* vision() { return vision_.get(); }
  at::ScalarType dtype() const { return text_->embed_tokens.scalar_type(); }
  at::Device device() const { return text_->embed_tokens.device(); }

  AttentionImpl attention_impl = AttentionImpl::Auto;

 private:
  Gemma3Config cfg_;
  std::unique_ptr<Gemma3TextModel> text_;
  std::unique_ptr<SiglipVisionModel> vision_;
  Gemma3Projector projector_;
};

}  // namespace omnitune
