// A loaded model ready to answer prompts: config, weights (optionally with a PEFT LoRA adapter),
// tokenizer, chat template, image processor and (Gemma 3n) audio feature extractor, plus the steps
// every caller shares: encode a chat prompt, load an image as pixels or a clip as log-mel
// features, generate a left-padded batch and decode the answers. Gemma 3 and Gemma 3n model
// directories both load (config.json's model_type decides). The single-prompt CLI and the dataset batch mode (batch_generate.h) both use it, so a
// prompt is answered the same way whichever front end asked.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/shard_format.h"
#include "generate/generator.h"
#include "media/audio_features.h"
#include "media/image_processor.h"
#include "model/gemma3_model.h"
#include "model/gemma3n_model.h"
#include "tokenizer/chat_template.h"

namespace omnitune {

struct SessionOptions {
  std::string model_dir;
  std::string adapter_dir;     // PEFT LoRA adapter directory; "" = base model only
  std::string tokenizer_path;  // "" = <model_dir>/tokenizer.model
  std::string dtype = "auto";  // auto (config.json torch_dtype) | float32 | bfloat16
  std::string attention = "auto";
  at::Device device = at::Device(at::kCPU);
};

// One prompt of a batch: token ids (chat template + processor expansion), token types, its
// images as normalised [n, 3, H, W] float pixels (undefined without images) and its audio clips
// as log-mel features in prompt order (Gemma 3n).
struct PromptTokens {
  std::vector<int32_t> ids;
  std::vector<uint8_t> token_type;
  at::Tensor pixels;
  std::vector<ShardAudio> audio;
};

struct Answer {
  std::string text;        // decoded, stop token excluded
  int64_t new_tokens = 0;  // generated tokens, the stop token included (as GenerateResult::lengths)
};

struct BatchTiming {
  int64_t prefill_tokens = 0, new_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

class GenerationSession {
 public:
  explicit GenerationSession(const SessionOptions& opt);

  // The user turn (images, then audio clips, then the text) after an optional system prompt,
  // ending with the model-turn start. Errors for images given to a text-only model and audio
  // given to a model without an audio tower.
  ChatEncoding encode_prompt(const std::string& system, const std::string& text,
                             const std::vector<std::string>& image_files,
                             const std::vector<std::string>& audio_files = {}) const;
  // An image file -> normalised [3, H, W] float32 pixels through the shared decode/resize code.
  at::Tensor load_image(const std::string& path) const;
  // An audio file -> its log-mel features, exactly as preprocessing makes them.
  ShardAudio load_audio(const std::string& path) const;

  // Left-pads the prompts into one batch, generates, decodes. `sampling.seed` seeds this call.
  std::vector<Answer> generate(const std::vector<PromptTokens>& prompts, int64_t max_new_tokens,
                               const SamplingOptions& sampling, BatchTiming* timing = nullptr) const;

  bool is_gemma3n() const { return model3n_ != nullptr; }
  bool has_vision() const;
  bool has_audio() const { return is_gemma3n(); }
  const std::string& architecture() const { return architecture_; }
  const SentencePiece& tokenizer() const { return *sp_; }
  const GemmaChatTemplate& chat_template() const { return *tpl_; }
  const std::string& tokenizer_path() const { return tokenizer_path_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  std::string describe() const { return description_; }

 private:
  Gemma3Config cfg_;                         // Gemma 3 ...
  std::unique_ptr<Gemma3Model> model_;
  Gemma3nConfig cfg3n_;                      // ... or Gemma 3n
  std::unique_ptr<Gemma3nModel> model3n_;
  mutable std::optional<AudioFeatureConfig> audio_cfg_;  // read at the first clip
  std::string architecture_;
  std::unique_ptr<SentencePiece> sp_;
  std::unique_ptr<GemmaChatTemplate> tpl_;
  mutable std::optional<ImageProcessorConfig> processor_;  // read at the first image
  std::string model_dir_, tokenizer_path_, description_;
  at::ScalarType dtype_ = at::kBFloat16;
  at::Device device_ = at::Device(at::kCPU);
  std::vector<int64_t> stop_ids_;
  int64_t pad_id_ = 0;
};

}  // namespace omnitune
