// The whole Gemma 3n model (Gemma3nForConditionalGeneration, gemma-spec D): the text decoder and
// the audio encoder, the vision and audio embedders. Embedding order (D.7): text embedding of every id, then the hard
// vision and audio token ids through their embedders; per-layer inputs come from the ids (ids past
// the PLE table read row 0) and from the merged embeddings. The vision tower (MobileNetV5) is not
// here yet; audio soft tokens (encoder + embedder) replace the <audio_soft_token> rows.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "model/gemma3n_audio.h"
#include "model/gemma3n_config.h"
#include "model/gemma3n_embedder.h"
#include "model/gemma3n_text.h"
#include "nn/kv_cache.h"

namespace omnitune {

struct Gemma3nInputs {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor attention_mask;  // [B, T] 1 = real token, 0 = padding; undefined = all real
  at::Tensor position_ids;    // [B, T] RoPE positions; undefined = start, start+1, ... for every row
  // One clip per run of audio soft tokens, in prompt order (batch-major): log-mel frames
  // [N, frames, mel bins] and their padding flags [N, frames] (true = padding), or undefined.
  at::Tensor audio_features, audio_pad;
};

class Gemma3nModel {
 public:
  explicit Gemma3nModel(const Gemma3nConfig& cfg, const LinearFactory& make_linear = dense_linear_factory());

  // Text embeddings with hard vision/audio ids replaced by their embedders' outputs. [B, T, D]
  at::Tensor embed_ids(const at::Tensor& input_ids) const;
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
  Gemma3nTextModel& text() { return *text_; }
  const Gemma3nTextModel& text() const { return *text_; }
  at::ScalarType dtype() const { return text_->embed_tokens.scalar_type(); }

  AttentionImpl attention_impl = AttentionImpl::Auto;

 private:
  Gemma3nConfig cfg_;
  std::unique_ptr<Gemma3nTextModel> text_;
  std::unique_ptr<Gemma3nEmbedder> embed_vision_, embed_audio_;
  std::unique_ptr<Gemma3nAudioEncoder> audio_;
};

}  // namespace omnitune
