// Gemma 3 top level: input merging, masks and positions; the layers live in gemma3_text/siglip.
#include "model/gemma3_model.h"

#include "core/error.h"

namespace omnitune {

Gemma3Model::Gemma3Model(const Gemma3Config& cfg, const LinearFactory& make_linear) : cfg_(cfg) {
  const std::string text_prefix = cfg.has_vision ? "model.language_model" : "model";
  text_ = std::make_unique<Gemma3TextModel>(cfg.text, text_prefix, make_linear);
  if (cfg.has_vision) {
    vision_ = std::make_unique<SiglipVisionModel>(cfg.vision, "model.vision_tower.vision_model", make_linear);
    projector_.name = "model.multi_modal_projector";
    projector_.vision_hidden = cfg.vision.hidden_size;
    projector_.text_hidden = cfg.text.hidden_size;
    projector_.tokens_per_image = cfg.mm_tokens_per_image;
    projector_.mm_soft_emb_norm =
        RmsNorm{projector_.name + ".mm_soft_emb_norm", cfg.vision.hidden_size, cfg.vision.layer_norm_eps, true, {}};
  }
}

at::Tensor Gemma3Model::image_features(const at::Tensor& pixel_values) const {
  OT_REQUIRE(vision_, "this model (", cfg_.architecture, ") has no vision tower: it cannot take images");
  return projector_.forward(vision_->forward(pixel_values, attention_impl));
}

at::Tensor Gemma3Model::embedding_ids(const at::Tensor& input_ids) const {
  // An image id beyond the embedding table would be out of range: embed id 0 there instead
  // (the row is overwritten by image features anyway).
  if (!cfg_.has_vision || cfg_.image_token_id < cfg_.text.vocab_size) return input_ids;
  return at::where(input_ids == cfg_.image_token_id, at::zeros_like(input_ids), input_ids);
}

at::Tensor Gemma3Model::merge_image_features(const at::Tensor& embeds, const at::Tensor& input_ids,
                                             const at::Tensor& feats) const {
  at::Tensor is_image = input_ids == cfg_.image_token_id;
  const int64_t n_tokens = is_image.sum().item<int64_t>();
  OT_REQUIRE(n_tokens == feats.size(0) * feats.size(1), "the prompt has ", n_tokens,
             " image tokens but ", feats.size(0), " image(s) x ", feats.size(1), " tokens = ",
             feats.size(0) * feats.size(1), " were provided: each image needs exactly ",
             cfg_.mm_tokens_per_image, " <image_soft_token> ids");
  at::Tensor mask = is_image.unsqueeze(-1).expand_as(embeds);
  return embeds.masked_scatter(mask, feats.to(embeds.scalar_type()));
}

at::Tensor Gemma3Model::embed_inputs(const at::Tensor& input_ids, const at::Tensor& pixel_values) const {
  at::Tensor embeds = text_->embed(embedding_ids(input_ids));
  if (!pixel_values.defined()) return embeds;
  return merge_image_features(embeds, input_ids, image_features(pixel_values));
}

at::Tensor Gemma3Model::forward_hidden(const Gemma3Inputs& in, KVCache* cache,
                                       std::vector<at::Tensor>* layer_outputs, at::Tensor* embeds_out) const {
  OT_REQUIRE(in.input_ids.defined() && in.input_ids.dim() == 2, "input_ids must be [batch, tokens]");
  const int64_t start = cache ? cache->length() : 0;
  at::Tensor embeds = embed_inputs(in.input_ids, in.pixel_values);
  if (embeds_out) *embeds_out = embeds;
  DecoderContext ctx = make_context(in, start, dtype());
  return text_->forward(embeds, ctx, cache, layer_outputs);
}

at::Tensor Gemma3Model::forward_logits(const Gemma3Inputs& in, KVCache* cache) const {
  return text_->logits(forward_hidden(in, cache));
}

DecoderContext Gemma3Model::make_context(const Gemma3Inputs& in, int64_t start, at::ScalarType dtype) const {
  const int64_t B = in.input_ids.size(0), T = in.input_ids.size(1);
  at::Tensor pos = in.position_ids.defined()
                       ? in.position_ids
                       : at::arange(start, start + T, in.input_ids.options()).unsqueeze(0).expand({B, T});
  at::Tensor group;
  if (in.token_type_ids.defined()) group = image_groups(in.token_type_ids == 1);
  at::Tensor valid = in.attention_mask.defined() ? in.attention_mask != 0 : at::Tensor();
  return text_->make_context(pos, valid, group, start, attention_impl, dtype);
}

KVCache Gemma3Model::make_cache(int64_t batch, int64_t capacity) const {
  return KVCache(text_->cache_windows(), batch, cfg_.text.num_key_value_heads, cfg_.text.head_dim, capacity,
                 text_->embed_tokens.options());
}

void Gemma3Model::collect_params(ParamList& out) {
  text_->collect_params(out);
  collect_vision_params(out);
}

void Gemma3Model::collect_vision_params(ParamList& out) {
  if (!vision_) return;
  vision_->collect_params(out);
  projector_.collect_params(out);
}

ParamList Gemma3Model::params() {
  ParamList p;
  collect_params(p);
  return p;
}

}  // namespace omnitune
