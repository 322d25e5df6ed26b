// A loaded model ready to answer prompts: config, weights (optionally with a PEFT LoRA adapter),
// tokenizer, chat template and image processor, plus the steps every caller shares: encode a
// chat prompt, load an image as normalised pixels, generate a left-padded batch and decode the
// answers. The single-prompt CLI and the dataset batch mode (batch_generate.h) both use it, so a
// prompt is answered the same way whichever front end asked.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "generate/generator.h"
#include "media/image_processor.h"
#include "model/gemma3_model.h"
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

// One prompt of a batch: token ids (chat template + processor expansion), token types, and its
// images as normalised [n, 3, H, W] float pixels (undefined without images).
struct PromptTokens {
  std::vector<int32_t> ids;
  std::vector<uint8_t> token_type;
  at::Tensor pixels;
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

  // The user turn (images first, then the text) after an optional system prompt, ending with
  // the model-turn start. Errors for images given to a text-only model.
  ChatEncoding encode_prompt(const std::string& system, const std::string& text,
                             const std::vector<std::string>& image_files) const;
  // An image file -> normalised [3, H, W] float32 pixels through the shared decode/resize code.
  at::Tensor load_image(const std::string& path) const;

  // Left-pads the prompts into one batch, generates, decodes. `sampling.seed` seeds this call.
  std::vector<Answer> generate(const std::vector<PromptTokens>& prompts, int64_t max_new_tokens,
                               const SamplingOptions& sampling, BatchTiming* timing = nullptr) const;

  const Gemma3Config& config() const { return cfg_; }
  const SentencePiece& tokenizer() const { return *sp_; }
  const GemmaChatTemplate& chat_template() const { return *tpl_; }
  const std::string& tokenizer_path() const { return tokenizer_path_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  std::string describe() const { return description_; }

 private:
  Gemma3Config cfg_;
  std::unique_ptr<Gemma3Model> model_;
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
