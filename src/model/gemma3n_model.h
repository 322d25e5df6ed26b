// The whole Gemma 3n model (Gemma3nForConditionalGeneration, gemma-spec D): the text decoder and
// the MobileNetV5 vision tower, the Conformer audio encoder and both embedders. Embedding order (D.7): text embedding of every id, then the hard
// vision and audio token ids through their embedders; per-layer inputs come from the ids (ids past
// the PLE table read row 0) and from the merged embeddings; then image soft tokens (MobileNetV5 +
// embedder) replace the <image_soft_token> rows and audio soft tokens (Conformer + embedder) the
// <audio_soft_token> rows.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "model/gemma3n_audio.h"
#include "model/gemma3n_config.h"
#include "model/gemma3n_embedder.h"
#include "model/gemma3n_text.h"
#include "model/hf_loader.h"
#include "model/mobilenet_v5.h"
#include "nn/kv_cache.h"

namespace omnitune {

struct Gemma3nInputs {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor attention_mask;  // [B, T] 1 = real token, 0 = padding; undefined = all real
  at::Tensor position_ids;    // [B, T] RoPE positions; undefined = start, start+1, ... for every row
  at::Tensor pixel_values;    // [N, 3, S, S] in [0, 1], one per image in prompt order, or undefined
  // One clip per run of audio soft tokens, in prompt order (batch-major): log-mel frames
  // [N, frames, mel bins] and their padding flags [N, frames] (true = padding), or undefined.
  at::Tensor audio_features, audio_pad;
};

class Gemma3nModel {
 public:
  // The vision tower's layout comes from the checkpoint (`vision_layout`: its tensor shapes, see
  // hf_checkpoint_shapes); without one the model has no vision tower and refuses pixel inputs.
  explicit Gemma3nModel(const Gemma3nConfig& cfg, const LinearFactory& make_linear = dense_linear_factory(),
                        const TensorShapes* vision_layout = nullptr);

  // Text embeddings with hard vision/audio ids replaced by their embedders' outputs. [B, T, D]
  at::Tensor embed_ids(const at::Tensor& input_ids) const;
  // The second half of embed_ids, for engines that look up the text embedding themselves
  // (vocab-parallel): rows of ids in an embedder's range replaced by its output.
  at::Tensor merge_hard_tokens(const at::Tensor& text_embeds, const at::Tensor& input_ids) const;
  // Soft tokens scattered over the <image_soft_token> / <audio_soft_token> rows (either undefined).
  at::Tensor merge_soft_tokens(const at::Tensor& embeds, const at::Tensor& input_ids, const at::Tensor& image_soft,
                               const at::Tensor& audio_soft) const;
  // Image soft tokens [N, vision_soft_tokens_per_image, D]: the tower's features times sqrt(C),
  // through the vision embedder.
  at::Tensor image_soft_tokens(const at::Tensor& pixels) const;
  // Audio soft tokens [N, audio_soft_tokens_per_image, D] for N clips: the encoder's frames through
  // the audio embedder, padded frames and the missing tail filled with the embedding of the last
  // audio-vocabulary id (HF: id text_vocab - 1).
  at::Tensor audio_soft_tokens(const at::Tensor& features, const at::Tensor& pad) const;
  // Final-norm hidden states [B, T, D]; with a cache the call continues from cache->length().
  // stream_outputs: the AltUp streams before the first layer and after each (parity tests).
  at::Tensor forward_hidden(const Gemma3nInputs& in, KVCache* cache = nullptr,
                            std::vector<at::Tensor>* stream_outputs = nullptr) const;
  at::Tensor forward_logits(const Gemma3nInputs& in, KVCache* cache = nullptr) const;
  // A cache for the layers that own K/V (KV-shared layers read their source's), `capacity` tokens.
  KVCache make_cache(int64_t batch, int64_t capacity) const;

  void collect_params(ParamList& out);
  ParamList params();
  // Checkpoint tensors the architecture ignores (see Gemma3nTextModel::unused_checkpoint_tensor).
  bool unused_checkpoint_tensor(const std::string& name) const { return text_->unused_checkpoint_tensor(name); }

  const Gemma3nConfig& config() const { return cfg_; }
  Gemma3nAudioEncoder& audio() { return *audio_; }
  const Gemma3nAudioEncoder& audio() const { return *audio_; }
  const Gemma3nEmbedder& embed_audio() const { return *embed_audio_; }
  const Gemma3nEmbedder& embed_vision() const { return *embed_vision_; }
  Gemma3nEmbedder& embed_audio() { return *embed_audio_; }
  Gemma3nEmbedder& embed_vision() { return *embed_vision_; }
  MobileNetV5Encoder* vision() { return vision_.get(); }
  const MobileNetV5Encoder* vision() const { return vision_.get(); }
  Gemma3nTextModel& text() { return *text_; }
  const Gemma3nTextModel& text() const { return *text_; }
  at::ScalarType dtype() const { return text_->embed_tokens.scalar_type(); }

  AttentionImpl attention_impl = AttentionImpl::Auto;

 private:
  Gemma3nConfig cfg_;
  std::unique_ptr<Gemma3nTextModel> text_;
  std::unique_ptr<Gemma3nEmbedder> embed_vision_, embed_audio_;
  std::unique_ptr<Gemma3nAudioEncoder> audio_;
  std::unique_ptr<MobileNetV5Encoder> vision_;
};

// A Gemma 3n model shaped like the checkpoint in `dir`: its config.json, and the vision tower's
// layout from the checkpoint's tensor shapes (no tower when the checkpoint has none). No weights.
std::unique_ptr<Gemma3nModel> gemma3n_model_for_checkpoint(const std::string& dir,
                                                           const LinearFactory& make_linear = dense_linear_factory());
// Loads `dir`'s weights into `params` (of `model`; LoRA parameters excluded by the caller),
// skipping the checkpoint tensors the architecture ignores.
HfLoadReport gemma3n_load_weights(const std::string& dir, const Gemma3nModel& model, ParamList& params,
                                  HfLoadOptions opt);

}  // namespace omnitune
