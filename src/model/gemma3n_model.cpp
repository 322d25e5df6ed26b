#include "model/gemma3n_model.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {

namespace {

at::Tensor scatter_rows(const at::Tensor& embeds, const at::Tensor& at_rows, const at::Tensor& feats, const char* what) {
  const int64_t n = at_rows.sum().item<int64_t>();
  OT_REQUIRE(n == feats.size(0) * feats.size(1), "the prompt has ", n, " ", what, " soft tokens but ", feats.size(0),
             " input(s) x ", feats.size(1), " tokens were provided");
  return embeds.masked_scatter(at_rows.unsqueeze(-1).expand_as(embeds), feats.to(embeds.scalar_type()));
}

}  // namespace

Gemma3nModel::Gemma3nModel(const Gemma3nConfig& cfg, const LinearFactory& make_linear,
                           const TensorShapes* vision_layout)
    : cfg_(cfg) {
  const int64_t D = cfg.text.hidden_size;
  text_ = std::make_unique<Gemma3nTextModel>(cfg.text, "model.language_model", make_linear);
  embed_vision_ = std::make_unique<Gemma3nEmbedder>("model.embed_vision", cfg.vision.vocab_offset, cfg.vision.vocab_size,
                                                    cfg.vision.hidden_size, D, cfg.vision.rms_norm_eps, make_linear);
  embed_audio_ = std::make_unique<Gemma3nEmbedder>("model.embed_audio", cfg.audio.vocab_offset, cfg.audio.vocab_size,
                                                   cfg.audio.hidden_size, D, cfg.audio.rms_norm_eps, make_linear);
  audio_ = std::make_unique<Gemma3nAudioEncoder>(cfg.audio, "model.audio_tower", make_linear);
  if (vision_layout) {
    vision_ = std::make_unique<MobileNetV5Encoder>("model.vision_tower.timm_model", *vision_layout,
                                                   cfg.vision.msfa_output_resolution, cfg.vision.rms_norm_eps);
    OT_REQUIRE(vision_->out_channels() == cfg.vision.hidden_size, "the vision tower gives ", vision_->out_channels(),
               " channels but vision_config.hidden_size is ", cfg.vision.hidden_size);
  }
}

at::Tensor Gemma3nModel::image_soft_tokens(const at::Tensor& pixels) const {
  OT_REQUIRE(vision_, "this Gemma 3n model was built without its vision tower");
  at::Tensor f = vision_->forward(pixels.to(dtype()));  // [N, C, R, R]
  f = f.flatten(2).transpose(1, 2);                     // [N, R*R, C], row-major positions
  OT_REQUIRE(f.size(1) == cfg_.vision_soft_tokens_per_image, "the vision tower gives ", f.size(1),
             " tokens per image, the config says ", cfg_.vision_soft_tokens_per_image);
  return embed_vision_->soft(f * std::sqrt(double(cfg_.vision.hidden_size)));
}

at::Tensor Gemma3nModel::audio_soft_tokens(const at::Tensor& features, const at::Tensor& pad) const {
  Gemma3nAudioEncoder::Output enc = audio_->forward(features, pad);
  at::Tensor soft = embed_audio_->soft(enc.hidden);  // [N, T', D]
  const int64_t N = soft.size(0), want = cfg_.audio_soft_tokens_per_image;
  OT_REQUIRE(soft.size(1) <= want, "an audio clip gives ", soft.size(1), " soft tokens, more than the ", want,
             " the prompt has room for: clips are at most 30 s");
  // HF pads with id text_vocab - 1, the last audio-vocabulary id in every released config; naming it
  // by the audio range keeps tiny models whose audio range is not at the top of the vocabulary valid.
  const int64_t last_audio_id = cfg_.audio.vocab_offset + cfg_.audio.vocab_size - 1;
  const at::Tensor filler = embed_audio_->hard(at::full({1, 1}, last_audio_id, pad.options().dtype(at::kLong)));
  soft = at::where(enc.pad.unsqueeze(-1), filler, soft);
  return at::cat({soft, filler.expand({N, want - soft.size(1), soft.size(2)})}, 1);
}

at::Tensor Gemma3nModel::embed_ids(const at::Tensor& input_ids) const {
  OT_REQUIRE(input_ids.defined() && input_ids.dim() == 2, "input_ids must be [batch, tokens]");
  return merge_hard_tokens(text_->embed(input_ids), input_ids);
}

at::Tensor Gemma3nModel::merge_hard_tokens(const at::Tensor& text_embeds, const at::Tensor& input_ids) const {
  at::Tensor e = text_embeds;
  for (const Gemma3nEmbedder* m : {embed_vision_.get(), embed_audio_.get()}) {
    const at::Tensor own = m->owns(input_ids);
    if (!own.any().item<bool>()) continue;
    // Every position through the embedder with a stand-in id, then the owned rows kept (as HF).
    const at::Tensor ids = at::where(own, input_ids, at::full_like(input_ids, m->vocab_offset));
    e = at::where(own.unsqueeze(-1), m->hard(ids).to(e.scalar_type()), e);
  }
  return e;
}

at::Tensor Gemma3nModel::merge_soft_tokens(const at::Tensor& embeds, const at::Tensor& input_ids,
                                           const at::Tensor& image_soft, const at::Tensor& audio_soft) const {
  at::Tensor e = embeds;
  if (image_soft.defined()) e = scatter_rows(e, input_ids == cfg_.image_token_id, image_soft, "image");
  if (audio_soft.defined()) e = scatter_rows(e, input_ids == cfg_.audio_token_id, audio_soft, "audio");
  return e;
}

at::Tensor Gemma3nModel::forward_hidden(const Gemma3nInputs& in, KVCache* cache,
                                        std::vector<at::Tensor>* stream_outputs) const {
  const int64_t B = in.input_ids.size(0), T = in.input_ids.size(1);
  const int64_t start = cache ? cache->length() : 0;
  at::Tensor embeds = merge_soft_tokens(
      embed_ids(in.input_ids), in.input_ids,
      in.pixel_values.defined() ? image_soft_tokens(in.pixel_values) : at::Tensor(),
      in.audio_features.defined() ? audio_soft_tokens(in.audio_features, in.audio_pad) : at::Tensor());
  at::Tensor ple = text_->per_layer_inputs(embeds, text_->per_layer_tokens(in.input_ids));
  at::Tensor pos = in.position_ids.defined()
                       ? in.position_ids
                       : at::arange(start, start + T, in.input_ids.options()).unsqueeze(0).expand({B, T});
  at::Tensor valid = in.attention_mask.defined() ? in.attention_mask != 0 : at::Tensor();
  DecoderContext ctx = text_->make_context(pos, valid, start, attention_impl, dtype());
  return text_->forward(embeds, ple, ctx, cache, stream_outputs);
}

at::Tensor Gemma3nModel::forward_logits(const Gemma3nInputs& in, KVCache* cache) const {
  return text_->logits(forward_hidden(in, cache));
}

KVCache Gemma3nModel::make_cache(int64_t batch, int64_t capacity) const {
  return KVCache(text_->cache_windows(), batch, cfg_.text.num_key_value_heads, cfg_.text.head_dim, capacity,
                 text_->embed_tokens.options());
}

void Gemma3nModel::collect_params(ParamList& out) {
  text_->collect_params(out);
  embed_vision_->collect_params(out);
  embed_audio_->collect_params(out);
  audio_->collect_params(out);
  if (vision_) vision_->collect_params(out);
}

ParamList Gemma3nModel::params() {
  ParamList p;
  collect_params(p);
  return p;
}

std::unique_ptr<Gemma3nModel> gemma3n_model_for_checkpoint(const std::string& dir, const LinearFactory& make_linear) {
  const Gemma3nConfig cfg = gemma3n_config_load(dir);
  const TensorShapes shapes = hf_checkpoint_shapes(dir);
  bool vision = false;
  for (const auto& kv : shapes) vision = vision || kv.first.rfind("model.vision_tower.", 0) == 0;
  return std::make_unique<Gemma3nModel>(cfg, make_linear, vision ? &shapes : nullptr);
}

HfLoadReport gemma3n_load_weights(const std::string& dir, const Gemma3nModel& model, ParamList& params,
                                  HfLoadOptions opt) {
  opt.known_unused = [&model](const std::string& n) { return model.unused_checkpoint_tensor(n); };
  return hf_load_checkpoint(dir, params, opt);
}

}  // namespace omnitune
