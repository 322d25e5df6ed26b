// Gemma 3n config.json parsing with HF's defaults (gemma-spec D.1: the E4B values). Fields that
// change the math in a way this implementation does not follow are errors, not ignored.
#include "model/gemma3n_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/hf_config_json.h"

namespace omnitune {

using json = nlohmann::json;

namespace {

// A per-layer field given as one value for every layer or as a list of exactly `layers` values.
template <typename T>
std::vector<T> per_layer(const json& j, const char* key, int64_t layers, const std::vector<T>& fallback,
                         const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  std::vector<T> out;
  if (it->is_array()) {
    hf_config_read(j, key, out, where);
    OT_REQUIRE(static_cast<int64_t>(out.size()) == layers, where, ": ", key, " has ", out.size(),
               " entries but num_hidden_layers is ", layers);
  } else {
    T v{};
    hf_config_read(j, key, v, where);
    out.assign(static_cast<size_t>(layers), v);
  }
  return out;
}

void parse_text(const json& t, Gemma3nTextConfig& c, const std::string& where) {
  hf_config_read(t, "vocab_size", c.vocab_size, where);
  hf_config_read(t, "vocab_size_per_layer_input", c.vocab_size_per_layer_input, where);
  hf_config_read(t, "hidden_size", c.hidden_size, where);
  hf_config_read(t, "hidden_size_per_layer_input", c.hidden_size_per_layer_input, where);
  hf_config_read(t, "num_hidden_layers", c.num_hidden_layers, where);
  hf_config_read(t, "num_attention_heads", c.num_attention_heads, where);
  hf_config_read(t, "num_key_value_heads", c.num_key_value_heads, where);
  hf_config_read(t, "head_dim", c.head_dim, where);
  hf_config_read(t, "hidden_activation", c.hidden_activation, where);
  hf_config_read(t, "max_position_embeddings", c.max_position_embeddings, where);
  hf_config_read(t, "rms_norm_eps", c.rms_norm_eps, where);
  hf_config_read(t, "sliding_window", c.sliding_window, where);
  hf_config_read(t, "final_logit_softcapping", c.final_logit_softcapping, where);
  hf_config_read(t, "num_kv_shared_layers", c.num_kv_shared_layers, where);
  hf_config_read(t, "altup_num_inputs", c.altup_num_inputs, where);
  hf_config_read(t, "altup_active_idx", c.altup_active_idx, where);
  hf_config_read(t, "altup_coef_clip", c.altup_coef_clip, where);
  hf_config_read(t, "altup_correct_scale", c.altup_correct_scale, where);
  hf_config_read(t, "laurel_rank", c.laurel_rank, where);
  hf_config_read(t, "pad_token_id", c.pad_token_id, where);
  hf_config_read(t, "bos_token_id", c.bos_token_id, where);
  if (t.contains("eos_token_id") && t["eos_token_id"].is_number_integer()) c.eos_token_id = t["eos_token_id"];
  hf_config_read(t, "rope_theta", c.rope_global.theta, where);
  hf_config_read(t, "rope_local_base_freq", c.rope_local.theta, where);
  OT_REQUIRE(!t.contains("rope_scaling") || t["rope_scaling"].is_null(), where,
             ": rope_scaling is not supported for Gemma 3n (the released models have none)");
  bool attention_bias = false;
  hf_config_read(t, "attention_bias", attention_bias, where);
  OT_REQUIRE(!attention_bias, where, ": attention_bias=true is not supported (Gemma 3n has no biases)");
  OT_REQUIRE(c.hidden_activation == "gelu_pytorch_tanh", where, ": hidden_activation '", c.hidden_activation,
             "' is not supported (Gemma 3n uses gelu_pytorch_tanh)");

  const int64_t L = c.num_hidden_layers;
  OT_REQUIRE(L > 0 && c.hidden_size > 0 && c.head_dim > 0 && c.num_attention_heads > 0 && c.num_key_value_heads > 0 &&
                 c.num_attention_heads % c.num_key_value_heads == 0,
             where, ": layers, widths and heads must be positive and the query heads a multiple of the KV heads");
  c.intermediate_size = per_layer<int64_t>(t, "intermediate_size", L, std::vector<int64_t>(size_t(L), 16384), where);
  // HF default: 0.95 for the first 10 layers, dense after.
  std::vector<double> sparsity(size_t(L), 0.0);
  for (int64_t i = 0; i < std::min<int64_t>(L, 10); ++i) sparsity[size_t(i)] = 0.95;
  c.activation_sparsity = per_layer<double>(t, "activation_sparsity_pattern", L, sparsity, where);
  for (double p : c.activation_sparsity)
    OT_REQUIRE(p >= 0.0 && p < 1.0, where, ": activation_sparsity_pattern values must be in [0, 1), got ", p);

  // layer_types, else HF's default pattern: every 5th layer full attention.
  c.layer_is_sliding.assign(size_t(L), true);
  if (t.contains("layer_types") && !t["layer_types"].is_null()) {
    std::vector<std::string> types;
    hf_config_read(t, "layer_types", types, where);
    OT_REQUIRE(static_cast<int64_t>(types.size()) == L, where, ": layer_types has ", types.size(),
               " entries but num_hidden_layers is ", L);
    for (int64_t i = 0; i < L; ++i) {
      const std::string& ty = types[size_t(i)];
      OT_REQUIRE(ty == "sliding_attention" || ty == "full_attention", where, ": layer_types[", i, "] is '", ty,
                 "' (expected sliding_attention or full_attention)");
      c.layer_is_sliding[size_t(i)] = ty == "sliding_attention";
    }
  } else {
    for (int64_t i = 0; i < L; ++i) c.layer_is_sliding[size_t(i)] = (i + 1) % 5 != 0;
  }
  OT_REQUIRE(c.num_kv_shared_layers >= 0 && c.num_kv_shared_layers < L, where, ": num_kv_shared_layers ",
             c.num_kv_shared_layers, " must be below num_hidden_layers ", L);
  // A shared layer reuses the K/V of the last non-shared layer of its own type: one must exist.
  const int64_t first = c.first_kv_shared_layer();
  for (bool sliding : {true, false}) {
    bool shared_uses = false, source = false;
    for (int64_t i = 0; i < L; ++i) {
      if (c.layer_is_sliding[size_t(i)] != sliding) continue;
      (i < first ? source : shared_uses) = true;
    }
    OT_REQUIRE(!shared_uses || source, where, ": a KV-shared ", sliding ? "sliding" : "full",
               " attention layer has no earlier layer of its type to share K/V with");
  }
  OT_REQUIRE(c.altup_num_inputs >= 1 && c.altup_active_idx >= 0 && c.altup_active_idx < c.altup_num_inputs, where,
             ": altup_active_idx ", c.altup_active_idx, " must index one of the ", c.altup_num_inputs, " AltUp streams");
}

void parse_audio(const json& a, Gemma3nAudioConfig& c, const std::string& where) {
  hf_config_read(a, "hidden_size", c.hidden_size, where);
  hf_config_read(a, "input_feat_size", c.input_feat_size, where);
  hf_config_read(a, "conf_num_hidden_layers", c.conf_num_hidden_layers, where);
  hf_config_read(a, "conf_num_attention_heads", c.conf_num_attention_heads, where);
  hf_config_read(a, "conf_attention_chunk_size", c.conf_attention_chunk_size, where);
  hf_config_read(a, "conf_attention_context_left", c.conf_attention_context_left, where);
  hf_config_read(a, "conf_attention_context_right", c.conf_attention_context_right, where);
  hf_config_read(a, "conf_attention_logit_cap", c.conf_attention_logit_cap, where);
  hf_config_read(a, "conf_conv_kernel_size", c.conf_conv_kernel_size, where);
  hf_config_read(a, "conf_reduction_factor", c.conf_reduction_factor, where);
  hf_config_read(a, "conf_residual_weight", c.conf_residual_weight, where);
  hf_config_read(a, "sscp_conv_channel_size", c.sscp_conv_channel_size, where);
  hf_config_read(a, "sscp_conv_kernel_size", c.sscp_conv_kernel_size, where);
  hf_config_read(a, "sscp_conv_stride_size", c.sscp_conv_stride_size, where);
  hf_config_read(a, "sscp_conv_group_norm_eps", c.sscp_conv_group_norm_eps, where);
  hf_config_read(a, "rms_norm_eps", c.rms_norm_eps, where);
  hf_config_read(a, "gradient_clipping", c.gradient_clipping, where);
  hf_config_read(a, "vocab_size", c.vocab_size, where);
  hf_config_read(a, "vocab_offset", c.vocab_offset, where);
  const size_t n = c.sscp_conv_channel_size.size();
  OT_REQUIRE(n > 0 && c.sscp_conv_kernel_size.size() == n && c.sscp_conv_stride_size.size() == n, where,
             ": sscp_conv_channel_size, sscp_conv_kernel_size and sscp_conv_stride_size must list the same "
             "number of subsampling convolutions");
  for (size_t i = 0; i < n; ++i)
    OT_REQUIRE(c.sscp_conv_kernel_size[i].size() == 2 && c.sscp_conv_stride_size[i].size() == 2, where,
               ": subsampling convolution ", i, " needs a [time, frequency] kernel and stride");
  OT_REQUIRE(c.hidden_size > 0 && c.conf_num_attention_heads > 0 && c.hidden_size % c.conf_num_attention_heads == 0,
             where, ": hidden_size ", c.hidden_size, " must be a positive multiple of conf_num_attention_heads ",
             c.conf_num_attention_heads);
}

void parse_vision(const json& v, Gemma3nVisionConfig& c, const std::string& where) {
  hf_config_read(v, "architecture", c.architecture, where);
  hf_config_read(v, "hidden_size", c.hidden_size, where);
  hf_config_read(v, "rms_norm_eps", c.rms_norm_eps, where);
  hf_config_read(v, "vocab_size", c.vocab_size, where);
  hf_config_read(v, "vocab_offset", c.vocab_offset, where);
  if (v.contains("model_args") && v["model_args"].is_object()) {
    hf_config_read(v["model_args"], "msfa_output_resolution", c.msfa_output_resolution, where + " model_args");
    hf_config_read(v["model_args"], "channel_multiplier", c.channel_multiplier, where + " model_args");
  }
  OT_REQUIRE(c.architecture == "mobilenetv5_300m_enc", where, ": vision architecture '", c.architecture,
             "' is not supported (Gemma 3n uses mobilenetv5_300m_enc)");
}

}  // namespace

Gemma3nConfig gemma3n_config_parse(const std::string& text, const std::string& where) {
  const json j = hf_config_parse_object(text, where);
  std::string model_type;
  hf_config_read(j, "model_type", model_type, where);
  OT_REQUIRE(model_type == "gemma3n", where, ": model_type '", model_type, "' is not Gemma 3n (expected gemma3n)");
  Gemma3nConfig c;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    c.architecture = j["architectures"][0].get<std::string>();
  parse_text(j.value("text_config", json::object()), c.text, where + " text_config");
  parse_audio(j.value("audio_config", json::object()), c.audio, where + " audio_config");
  parse_vision(j.value("vision_config", json::object()), c.vision, where + " vision_config");
  hf_config_read(j, "vision_soft_tokens_per_image", c.vision_soft_tokens_per_image, where);
  hf_config_read(j, "audio_soft_tokens_per_image", c.audio_soft_tokens_per_image, where);
  hf_config_read(j, "boi_token_id", c.boi_token_id, where);
  hf_config_read(j, "eoi_token_id", c.eoi_token_id, where);
  hf_config_read(j, "image_token_id", c.image_token_id, where);
  hf_config_read(j, "boa_token_id", c.boa_token_id, where);
  hf_config_read(j, "eoa_token_id", c.eoa_token_id, where);
  hf_config_read(j, "audio_token_id", c.audio_token_id, where);
  hf_config_read(j, "tie_word_embeddings", c.tie_word_embeddings, where);
  return c;
}

Gemma3nConfig gemma3n_config_load(const std::string& path) {
  std::string file;
  const std::string text = hf_config_read_file(path, file);
  return gemma3n_config_parse(text, file);
}

std::string gemma3n_config_describe(const Gemma3nConfig& c) {
  const Gemma3nTextConfig& t = c.text;
  int64_t global = 0;
  for (bool s : t.layer_is_sliding) global += s ? 0 : 1;
  return str_cat(c.architecture, ": ", t.num_hidden_layers, " layers (", global, " global, ", t.num_kv_shared_layers,
                 " KV-shared), hidden ", t.hidden_size, ", heads ", t.num_attention_heads, "/", t.num_key_value_heads,
                 " x ", t.head_dim, ", vocab ", t.vocab_size, ", window ", t.sliding_window, "; audio conformer ",
                 c.audio.conf_num_hidden_layers, " layers, hidden ", c.audio.hidden_size, ", ",
                 c.audio_soft_tokens_per_image, " tokens per clip; ", c.vision.architecture, ", ",
                 c.vision_soft_tokens_per_image, " tokens per image");
}

}  // namespace omnitune
