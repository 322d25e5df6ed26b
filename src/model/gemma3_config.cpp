// config.json parsing with HF defaults. Unknown fields are ignored (HF adds many that do not
// affect the math); fields that change the math but are unsupported are errors.
#include "model/gemma3_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/hf_config_json.h"

namespace omnitune {

using json = nlohmann::json;

double Gemma3TextConfig::attn_scale() const { return 1.0 / std::sqrt(query_pre_attn_scalar); }

namespace {

// RoPE of one layer type from a rope-parameters object ({rope_type, factor, rope_theta}).
void read_rope(const json& r, RopeSpec& spec, const std::string& where, const std::string& which) {
  if (!r.is_object()) return;
  hf_config_read(r, "rope_theta", spec.theta, where);
  std::string type = "default";
  if (r.contains("rope_type")) hf_config_read(r, "rope_type", type, where);
  else if (r.contains("type")) hf_config_read(r, "type", type, where);
  if (type == "linear") {
    hf_config_read(r, "factor", spec.linear_factor, where);
  } else {
    OT_REQUIRE(type == "default", where, ": ", which, " RoPE type '", type,
               "' is not supported (Gemma 3 uses default and linear)");
  }
}

void parse_text(const json& t, Gemma3TextConfig& c, const std::string& where) {
  hf_config_read(t, "vocab_size", c.vocab_size, where);
  hf_config_read(t, "hidden_size", c.hidden_size, where);
  hf_config_read(t, "intermediate_size", c.intermediate_size, where);
  hf_config_read(t, "num_hidden_layers", c.num_hidden_layers, where);
  hf_config_read(t, "num_attention_heads", c.num_attention_heads, where);
  hf_config_read(t, "num_key_value_heads", c.num_key_value_heads, where);
  hf_config_read(t, "head_dim", c.head_dim, where);
  hf_config_read(t, "hidden_activation", c.hidden_activation, where);
  hf_config_read(t, "max_position_embeddings", c.max_position_embeddings, where);
  hf_config_read(t, "rms_norm_eps", c.rms_norm_eps, where);
  hf_config_read(t, "query_pre_attn_scalar", c.query_pre_attn_scalar, where);
  hf_config_read(t, "sliding_window", c.sliding_window, where);
  hf_config_read(t, "attention_bias", c.attention_bias, where);
  hf_config_read(t, "tie_word_embeddings", c.tie_word_embeddings, where);
  hf_config_read(t, "pad_token_id", c.pad_token_id, where);
  hf_config_read(t, "bos_token_id", c.bos_token_id, where);
  if (t.contains("final_logit_softcapping") && !t["final_logit_softcapping"].is_null())
    c.final_logit_softcapping = t["final_logit_softcapping"].get<double>();
  if (t.contains("attn_logit_softcapping") && !t["attn_logit_softcapping"].is_null())
    OT_FAIL(where, ": attn_logit_softcapping is set, but Gemma 3 has no attention soft-capping");
  OT_REQUIRE(c.hidden_activation == "gelu_pytorch_tanh" || c.hidden_activation == "gelu",
             where, ": hidden_activation '", c.hidden_activation, "' is not supported");

  // RoPE: legacy keys first, then rope_parameters (newer HF) overrides.
  hf_config_read(t, "rope_theta", c.rope_global.theta, where);
  hf_config_read(t, "rope_local_base_freq", c.rope_local.theta, where);
  if (t.contains("rope_scaling")) read_rope(t["rope_scaling"], c.rope_global, where, "global");
  if (t.contains("rope_parameters") && t["rope_parameters"].is_object()) {
    const json& rp = t["rope_parameters"];
    if (rp.contains("full_attention") || rp.contains("sliding_attention")) {
      if (rp.contains("full_attention")) read_rope(rp["full_attention"], c.rope_global, where, "global");
      if (rp.contains("sliding_attention")) read_rope(rp["sliding_attention"], c.rope_local, where, "local");
    } else {
      read_rope(rp, c.rope_global, where, "global");
    }
  }

  // Layer pattern: explicit layer_types win; else every pattern-th layer is global.
  c.layer_is_sliding.assign(c.num_hidden_layers, true);
  if (t.contains("layer_types") && t["layer_types"].is_array()) {
    const json& lt = t["layer_types"];
    OT_REQUIRE(static_cast<int64_t>(lt.size()) == c.num_hidden_layers, where, ": layer_types has ",
               lt.size(), " entries but num_hidden_layers is ", c.num_hidden_layers);
    for (size_t i = 0; i < lt.size(); ++i) {
      std::string s = lt[i].get<std::string>();
      OT_REQUIRE(s == "sliding_attention" || s == "full_attention", where, ": layer_types[", i,
                 "] = '", s, "' (expected sliding_attention or full_attention)");
      c.layer_is_sliding[i] = s == "sliding_attention";
    }
  } else {
    int64_t pattern = 6;
    hf_config_read(t, "sliding_window_pattern", pattern, where);
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) c.layer_is_sliding[i] = pattern <= 0 || (i + 1) % pattern != 0;
  }
  OT_REQUIRE(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0, where,
             ": num_attention_heads ", c.num_attention_heads, " is not a multiple of num_key_value_heads ",
             c.num_key_value_heads);
}

void parse_vision(const json& v, SiglipVisionConfig& c, const std::string& where) {
  hf_config_read(v, "hidden_size", c.hidden_size, where);
  hf_config_read(v, "intermediate_size", c.intermediate_size, where);
  hf_config_read(v, "num_hidden_layers", c.num_hidden_layers, where);
  hf_config_read(v, "num_attention_heads", c.num_attention_heads, where);
  hf_config_read(v, "num_channels", c.num_channels, where);
  hf_config_read(v, "image_size", c.image_size, where);
  hf_config_read(v, "patch_size", c.patch_size, where);
  hf_config_read(v, "layer_norm_eps", c.layer_norm_eps, where);
  hf_config_read(v, "hidden_act", c.hidden_act, where);
  bool use_head = false;
  hf_config_read(v, "vision_use_head", use_head, where);
  OT_REQUIRE(!use_head, where, ": vision_use_head=true is not used by Gemma 3 and not supported");
  OT_REQUIRE(c.image_size % c.patch_size == 0, where, ": image_size ", c.image_size,
             " is not a multiple of patch_size ", c.patch_size);
}

std::vector<int64_t> eos_list(const json& j, std::vector<int64_t> fallback) {
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_array()) return it->get<std::vector<int64_t>>();
  return {it->get<int64_t>()};
}

}  // namespace

Gemma3Config gemma3_config_parse(const std::string& text, const std::string& where) {
  const json j = hf_config_parse_object(text, where);
  Gemma3Config c;
  std::string model_type;
  hf_config_read(j, "model_type", model_type, where);
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    c.architecture = j["architectures"][0].get<std::string>();
  if (model_type == "gemma3" || j.contains("text_config") || j.contains("vision_config")) {
    c.has_vision = true;
    if (c.architecture.empty()) c.architecture = "Gemma3ForConditionalGeneration";
    if (j.contains("text_config")) parse_text(j["text_config"], c.text, where + " text_config");
    else parse_text(json::object(), c.text, where);
    if (j.contains("vision_config")) parse_vision(j["vision_config"], c.vision, where + " vision_config");
    hf_config_read(j, "mm_tokens_per_image", c.mm_tokens_per_image, where);
    hf_config_read(j, "boi_token_index", c.boi_token_id, where);
    hf_config_read(j, "eoi_token_index", c.eoi_token_id, where);
    hf_config_read(j, "image_token_index", c.image_token_id, where);
    hf_config_read(j, "boi_token_id", c.boi_token_id, where);
    hf_config_read(j, "eoi_token_id", c.eoi_token_id, where);
    hf_config_read(j, "image_token_id", c.image_token_id, where);
    c.eos_token_ids = eos_list(j, eos_list(j.value("text_config", json::object()), {c.text.eos_token_id}));
    int64_t side = static_cast<int64_t>(std::llround(std::sqrt(double(c.mm_tokens_per_image))));
    int64_t patches_side = c.vision.image_size / c.vision.patch_size;
    OT_REQUIRE(side * side == c.mm_tokens_per_image && side > 0 && patches_side % side == 0, where,
               ": mm_tokens_per_image ", c.mm_tokens_per_image, " must be a square whose side divides the ",
               patches_side, " patches per side");
  } else {
    OT_REQUIRE(model_type.empty() || model_type == "gemma3_text", where, ": model_type '", model_type,
               "' is not a Gemma 3 model (expected gemma3 or gemma3_text)");
    if (c.architecture.empty()) c.architecture = "Gemma3ForCausalLM";
    parse_text(j, c.text, where);
    c.eos_token_ids = eos_list(j, {c.text.eos_token_id});
  }
  return c;
}

Gemma3Config gemma3_config_load(const std::string& path) {
  std::string file;
  const std::string text = hf_config_read_file(path, file);
  return gemma3_config_parse(text, file);
}

std::string gemma3_config_describe(const Gemma3Config& c) {
  const Gemma3TextConfig& t = c.text;
  int64_t global = 0;
  for (bool s : t.layer_is_sliding) global += s ? 0 : 1;
  std::string s = str_cat(c.architecture, ": ", t.num_hidden_layers, " layers (", global,
                          " global), hidden ", t.hidden_size, ", heads ", t.num_attention_heads, "/",
                          t.num_key_value_heads, " x ", t.head_dim, ", vocab ", t.vocab_size,
                          ", window ", t.sliding_window);
  if (c.has_vision)
    s += str_cat("; SigLIP ", c.vision.num_hidden_layers, " layers, hidden ", c.vision.hidden_size, ", ",
                 c.vision.image_size, "px/", c.vision.patch_size, ", ", c.mm_tokens_per_image,
                 " tokens per image");
  return s;
}

}  // namespace omnitune
