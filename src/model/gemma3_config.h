// Gemma 3 model configuration read from a Hugging Face `config.json`. Hub configs are sparse, so
// every missing field takes the default of HF's Gemma3TextConfig / SiglipVisionConfig /
// Gemma3Config (gemma-spec A.1, B.1). Both RoPE spellings (legacy rope_theta / rope_scaling /
// rope_local_base_freq and newer rope_parameters) and both layer-pattern spellings (layer_types,
// sliding_window_pattern) are accepted. Nothing about a model size is hard-coded elsewhere.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nn/rope.h"

namespace omnitune {

struct Gemma3TextConfig {
  int64_t vocab_size = 262208;
  int64_t hidden_size = 2304;
  int64_t intermediate_size = 9216;
  int64_t num_hidden_layers = 26;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 256;
  std::string hidden_activation = "gelu_pytorch_tanh";
  int64_t max_position_embeddings = 131072;
  double rms_norm_eps = 1e-6;
  double query_pre_attn_scalar = 256;
  int64_t sliding_window = 4096;
  std::optional<double> final_logit_softcapping;
  bool attention_bias = false;
  bool tie_word_embeddings = true;
  int64_t pad_token_id = 0, eos_token_id = 1, bos_token_id = 2;
  RopeSpec rope_global{1e6, 1.0};  // full-attention layers
  RopeSpec rope_local{1e4, 1.0};   // sliding layers
  std::vector<bool> layer_is_sliding;  // one entry per layer

  double attn_scale() const;  // query_pre_attn_scalar^-1/2
};

struct SiglipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 16;
  double layer_norm_eps = 1e-6;
  std::string hidden_act = "gelu_pytorch_tanh";
  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct Gemma3Config {
  std::string architecture;        // "Gemma3ForConditionalGeneration" or "Gemma3ForCausalLM"
  bool has_vision = false;         // multimodal (vision tower + projector present)
  Gemma3TextConfig text;
  SiglipVisionConfig vision;
  int64_t mm_tokens_per_image = 256;
  int64_t boi_token_id = 255999;
  int64_t eoi_token_id = 256000;
  int64_t image_token_id = 262144;
  std::vector<int64_t> eos_token_ids{1};  // generation stops on any of these
};

// Parses `dir/config.json` (or a path to the file). Errors name the file and the field.
Gemma3Config gemma3_config_load(const std::string& path);
// Parses JSON text; `where` names the source in errors.
Gemma3Config gemma3_config_parse(const std::string& json_text, const std::string& where);

// One-line summary: "Gemma3ForConditionalGeneration: 34 layers, hidden 2560, ...".
std::string gemma3_config_describe(const Gemma3Config& c);

}  // namespace omnitune
