// Gemma 3n model configuration read from a Hugging Face `config.json` (gemma-spec D.1, D.9):
// `text_config` (Gemma3nTextConfig), `audio_config` (Gemma3nAudioConfig), `vision_config` (the
// MobileNetV5 tower: only the fields that are not read from the weights) and the top-level token
// ids. Missing fields take HF's defaults, which are the E4B values; per-layer lists (MLP widths,
// activation sparsity, layer types) accept a scalar or a list with one entry per layer.
#pragma once

#include <string>
#include <vector>

#include "nn/rope.h"

namespace omnitune {

struct Gemma3nTextConfig {
  int64_t vocab_size = 262400;                  // main embedding and LM head
  int64_t vocab_size_per_layer_input = 262144;  // per-layer embedding (PLE) table rows
  int64_t hidden_size = 2048;
  int64_t hidden_size_per_layer_input = 256;    // PLE width per layer
  std::vector<int64_t> intermediate_size;       // per layer (MatFormer widths)
  int64_t num_hidden_layers = 35;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 256;
  std::string hidden_activation = "gelu_pytorch_tanh";
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6;
  int64_t sliding_window = 512;
  double final_logit_softcapping = 30.0;        // 0 = none
  int64_t num_kv_shared_layers = 15;            // the last layers reuse earlier layers' K/V
  std::vector<double> activation_sparsity;      // per layer, Gaussian top-k target (0 = dense)
  int64_t altup_num_inputs = 4;
  int64_t altup_active_idx = 0;
  double altup_coef_clip = 120.0;
  bool altup_correct_scale = true;
  int64_t laurel_rank = 64;
  int64_t pad_token_id = 0, eos_token_id = 1, bos_token_id = 2;
  RopeSpec rope_global{1e6, 1.0};
  RopeSpec rope_local{1e4, 1.0};
  std::vector<bool> layer_is_sliding;           // per layer

  // First layer that reuses an earlier layer's K/V (num_hidden_layers - num_kv_shared_layers).
  int64_t first_kv_shared_layer() const { return num_hidden_layers - num_kv_shared_layers; }
};

struct Gemma3nAudioConfig {
  int64_t hidden_size = 1536;
  int64_t input_feat_size = 128;            // mel bins
  int64_t conf_num_hidden_layers = 12;
  int64_t conf_num_attention_heads = 8;
  int64_t conf_attention_chunk_size = 12;
  int64_t conf_attention_context_left = 13;
  int64_t conf_attention_context_right = 0;
  double conf_attention_logit_cap = 50.0;
  int64_t conf_conv_kernel_size = 5;
  int64_t conf_reduction_factor = 4;
  double conf_residual_weight = 0.5;
  std::vector<int64_t> sscp_conv_channel_size{128, 32};
  std::vector<std::vector<int64_t>> sscp_conv_kernel_size{{3, 3}, {3, 3}};
  std::vector<std::vector<int64_t>> sscp_conv_stride_size{{2, 2}, {2, 2}};
  double sscp_conv_group_norm_eps = 1e-3;
  double rms_norm_eps = 1e-6;
  double gradient_clipping = 1e10;
  int64_t vocab_size = 128, vocab_offset = 262272;  // hard audio tokens
};

struct Gemma3nVisionConfig {
  std::string architecture = "mobilenetv5_300m_enc";
  int64_t hidden_size = 2048;
  double rms_norm_eps = 1e-6;
  int64_t vocab_size = 128, vocab_offset = 262144;  // hard vision tokens
  int64_t msfa_output_resolution = 16;              // from model_args (timm), else 16
  double channel_multiplier = 1.0;                  // model_args (timm): only for building a random-weight tower
};

struct Gemma3nConfig {
  std::string architecture = "Gemma3nForConditionalGeneration";
  Gemma3nTextConfig text;
  Gemma3nAudioConfig audio;
  Gemma3nVisionConfig vision;
  int64_t vision_soft_tokens_per_image = 256;
  int64_t audio_soft_tokens_per_image = 188;
  int64_t boi_token_id = 255999, eoi_token_id = 262144, image_token_id = 262145;
  int64_t boa_token_id = 256000, eoa_token_id = 262272, audio_token_id = 262273;
  bool tie_word_embeddings = true;
};

// Parses `dir/config.json` (or a path to the file). Errors name the file and the field.
Gemma3nConfig gemma3n_config_load(const std::string& path);
Gemma3nConfig gemma3n_config_parse(const std::string& json_text, const std::string& where);

// One line: "Gemma3nForConditionalGeneration: 35 layers (7 global, 15 KV-shared), hidden 2048, ...".
std::string gemma3n_config_describe(const Gemma3nConfig& c);

}  // namespace omnitune
