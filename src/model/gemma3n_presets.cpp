// The Gemma 3n presets (gemma-spec D.1) and the random-weight directory writer. tiny-3n keeps every
// structural feature of E4B at CPU-test size: 6 layers with both attention types and two KV-shared
// ones, per-layer MLP widths, a 2-block Conformer on the real 128 mel bins, and the full
// MobileNetV5 block layout at a small channel multiplier on 128x128 images.
#include "model/gemma3n_presets.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/error.h"
#include "model/gemma3n_config.h"
#include "model/gemma3n_model.h"
#include "model/mobilenet_v5.h"
#include "nn/params.h"
#include "nn/tensor_io.h"

namespace omnitune {

using json = nlohmann::json;

namespace {

constexpr const char* kVisionPrefix = "model.vision_tower.timm_model";
constexpr int64_t kHfMaxAudioSamples = 480000;  // HF's truncation: 30 s at 16 kHz
constexpr int64_t kAudioPadMultiple = 128;      // HF pads clips to a multiple of 128 samples

// HF's default layer pattern: every 5th layer full attention.
json default_layer_types(int64_t layers) {
  json t = json::array();
  for (int64_t i = 0; i < layers; ++i) t.push_back((i + 1) % 5 == 0 ? "full_attention" : "sliding_attention");
  return t;
}

// E2B / E4B: the HF converter's values (gemma-spec D.1); they differ in depth, MLP width and the
// number of KV-shared layers only.
json released_config(int64_t layers, int64_t intermediate, int64_t kv_shared) {
  std::vector<double> sparsity(size_t(layers), 0.0);
  std::fill(sparsity.begin(), sparsity.begin() + std::min<int64_t>(layers, 10), 0.95);
  return json{
      {"architectures", {"Gemma3nForConditionalGeneration"}},
      {"model_type", "gemma3n"},
      {"torch_dtype", "bfloat16"},
      {"text_config",
       {{"model_type", "gemma3n_text"}, {"vocab_size", 262400}, {"vocab_size_per_layer_input", 262144},
        {"hidden_size", 2048}, {"hidden_size_per_layer_input", 256},
        {"intermediate_size", std::vector<int64_t>(size_t(layers), intermediate)},
        {"num_hidden_layers", layers}, {"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"head_dim", 256},
        {"sliding_window", 512}, {"layer_types", default_layer_types(layers)}, {"num_kv_shared_layers", kv_shared},
        {"activation_sparsity_pattern", sparsity}, {"laurel_rank", 64}, {"altup_num_inputs", 4},
        {"altup_active_idx", 0}, {"altup_coef_clip", 120.0}, {"altup_correct_scale", true},
        {"final_logit_softcapping", 30.0}, {"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0},
        {"rope_scaling", nullptr}, {"max_position_embeddings", 32768}, {"rms_norm_eps", 1e-6},
        {"hidden_activation", "gelu_pytorch_tanh"}, {"pad_token_id", 0}, {"eos_token_id", 1}, {"bos_token_id", 2}}},
      {"audio_config",
       {{"model_type", "gemma3n_audio"}, {"hidden_size", 1536}, {"input_feat_size", 128},
        {"conf_num_hidden_layers", 12}, {"conf_num_attention_heads", 8}, {"conf_attention_chunk_size", 12},
        {"conf_attention_context_left", 13}, {"conf_attention_context_right", 0},
        {"conf_attention_logit_cap", 50.0}, {"conf_conv_kernel_size", 5}, {"conf_reduction_factor", 4},
        {"conf_residual_weight", 0.5}, {"sscp_conv_channel_size", {128, 32}},
        {"sscp_conv_kernel_size", {{3, 3}, {3, 3}}}, {"sscp_conv_stride_size", {{2, 2}, {2, 2}}},
        {"sscp_conv_group_norm_eps", 1e-3}, {"rms_norm_eps", 1e-6}, {"gradient_clipping", 1e10},
        {"vocab_size", 128}, {"vocab_offset", 262272}}},
      {"vision_config",
       {{"model_type", "gemma3n_vision"}, {"architecture", "mobilenetv5_300m_enc"}, {"hidden_size", 2048},
        {"rms_norm_eps", 1e-6}, {"vocab_size", 128}, {"vocab_offset", 262144}, {"do_pooling", false}}},
      {"vision_soft_tokens_per_image", 256},
      {"audio_soft_tokens_per_image", 188},
      {"boi_token_id", 255999}, {"eoi_token_id", 262144}, {"image_token_id", 262145},
      {"boa_token_id", 256000}, {"eoa_token_id", 262272}, {"audio_token_id", 262273},
      {"eos_token_id", {1, 106}},
      {"tie_word_embeddings", true},
      {"initializer_range", 0.02}};
}

// tiny-3n. Sizes: hidden 64 (4 query / 2 KV heads of 16), PLE 16 per layer, Laurel rank 8, window
// 16; layers S S F S S F with the last two KV-shared (layer 4 reads layer 3, layer 5 reads layer 2);
// sparsity on layer 0. Audio: 128 mel bins -> two stride-2 convolutions -> 2 Conformer blocks of
// 64 -> every 4th frame: 6.25 tokens/s, so 32 tokens hold a 5.15 s clip. Vision: the 300M block
// layout at channel multiplier 1/16; 128x128 images give 8x8 fusion features pooled to 4x4 = 16
// tokens (the real tower pools 48x48 to 16x16). Token ids: omnitune-make-sample's layout (pad 0,
// eos 1, bos 2, unk 3, then <start_of_turn> 4 .. <audio_soft_token> 11) over 512 pieces.
json tiny_config() {
  const json sliding = "sliding_attention", full = "full_attention";
  return json{
      {"architectures", {"Gemma3nForConditionalGeneration"}},
      {"model_type", "gemma3n"},
      {"torch_dtype", "float32"},
      {"text_config",
       {{"model_type", "gemma3n_text"}, {"vocab_size", 512}, {"vocab_size_per_layer_input", 512},
        {"hidden_size", 64}, {"hidden_size_per_layer_input", 16},
        {"intermediate_size", {128, 96, 128, 96, 128, 96}}, {"num_hidden_layers", 6},
        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16}, {"sliding_window", 16},
        {"layer_types", {sliding, sliding, full, sliding, sliding, full}}, {"num_kv_shared_layers", 2},
        {"activation_sparsity_pattern", {0.95, 0.0, 0.0, 0.0, 0.0, 0.0}}, {"laurel_rank", 8},
        {"altup_num_inputs", 4}, {"altup_active_idx", 0}, {"altup_coef_clip", 120.0},
        {"altup_correct_scale", true}, {"final_logit_softcapping", 30.0}, {"rope_theta", 1000000.0},
        {"rope_local_base_freq", 10000.0}, {"rope_scaling", nullptr}, {"max_position_embeddings", 4096},
        {"rms_norm_eps", 1e-6}, {"hidden_activation", "gelu_pytorch_tanh"}, {"pad_token_id", 0},
        {"eos_token_id", 1}, {"bos_token_id", 2}}},
      {"audio_config",
       {{"model_type", "gemma3n_audio"}, {"hidden_size", 64}, {"input_feat_size", 128},
        {"conf_num_hidden_layers", 2}, {"conf_num_attention_heads", 4}, {"conf_attention_chunk_size", 12},
        {"conf_attention_context_left", 13}, {"conf_attention_context_right", 0},
        {"conf_attention_logit_cap", 50.0}, {"conf_conv_kernel_size", 5}, {"conf_reduction_factor", 4},
        {"conf_residual_weight", 0.5}, {"sscp_conv_channel_size", {16, 8}},
        {"sscp_conv_kernel_size", {{3, 3}, {3, 3}}}, {"sscp_conv_stride_size", {{2, 2}, {2, 2}}},
        {"sscp_conv_group_norm_eps", 1e-3}, {"rms_norm_eps", 1e-6}, {"gradient_clipping", 1e10},
        {"vocab_size", 2}, {"vocab_offset", 10}}},
      {"vision_config",
       {{"model_type", "gemma3n_vision"}, {"architecture", "mobilenetv5_300m_enc"}, {"hidden_size", 2048},
        {"rms_norm_eps", 1e-6}, {"vocab_size", 2}, {"vocab_offset", 7}, {"do_pooling", false},
        {"model_args", {{"channel_multiplier", 0.0625}, {"msfa_output_resolution", 4}}}}},
      {"vision_soft_tokens_per_image", 16},
      {"audio_soft_tokens_per_image", 32},
      {"boi_token_id", 6}, {"eoi_token_id", 7}, {"image_token_id", 8},
      {"boa_token_id", 9}, {"eoa_token_id", 10}, {"audio_token_id", 11},
      {"eos_token_id", {1, 5}},
      {"tie_word_embeddings", true},
      {"initializer_range", 0.02}};
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  OT_REQUIRE(out.good(), "cannot write ", path);
}

// preprocessor_config.json as HF's Gemma3nProcessor saves it: SiglipImageProcessorFast (resize,
// rescale to [0, 1], no normalisation) and Gemma3nAudioFeatureExtractor (gemma-spec D.8), with
// max_length capped where the clip's soft tokens still fit the prompt.
std::string preprocessor_config_json(const Gemma3nConfig& cfg, int64_t image_size, int64_t max_audio_samples) {
  json j{{"processor_class", "Gemma3nProcessor"},
         {"image_processor_type", "SiglipImageProcessorFast"},
         {"size", {{"height", image_size}, {"width", image_size}}},
         {"resample", 2},
         {"do_resize", true},
         {"do_rescale", true},
         {"rescale_factor", 1.0 / 255.0},
         {"do_normalize", false},
         {"image_mean", {0.5, 0.5, 0.5}},
         {"image_std", {0.5, 0.5, 0.5}},
         {"image_seq_length", cfg.vision_soft_tokens_per_image},
         {"feature_extractor_type", "Gemma3nAudioFeatureExtractor"},
         {"feature_size", cfg.audio.input_feat_size},
         {"sampling_rate", 16000},
         {"frame_length", 512},
         {"hop_length", 160},
         {"fft_length", 1024},
         {"fft_overdrive", true},
         {"preemphasis", 0.97},
         {"preemphasis_htk_flavor", true},
         {"min_frequency", 125.0},
         {"max_frequency", 7600.0},
         {"mel_floor", 1e-5},
         {"dither", 0.0},
         {"input_scale_factor", 1.0},
         {"per_bin_mean", nullptr},
         {"per_bin_stddev", nullptr},
         {"padding_side", "right"},
         {"padding_value", 0.0},
         {"return_attention_mask", true},
         {"max_length", max_audio_samples}};
  return j.dump(2);
}

}  // namespace

bool gemma3n_is_preset(const std::string& p) { return p == "tiny-3n" || p == "e2b" || p == "e4b"; }

std::string gemma3n_preset_config_json(const std::string& p) {
  if (p == "tiny-3n") return tiny_config().dump(2);
  if (p == "e2b") return released_config(30, 8192, 10).dump(2);
  if (p == "e4b") return released_config(35, 16384, 15).dump(2);
  OT_FAIL("unknown Gemma 3n preset '", p, "': use tiny-3n, e2b or e4b");
}

int64_t gemma3n_preset_image_size(const std::string& p) {
  if (p == "tiny-3n") return 128;
  if (p == "e2b" || p == "e4b") return 768;
  OT_FAIL("unknown Gemma 3n preset '", p, "': use tiny-3n, e2b or e4b");
}

std::string gemma3n_config_for_vocab(const std::string& cfg_json, const Gemma3nVocab& v) {
  OT_CHECK(v.id_of, "Gemma3nVocab without a piece lookup");
  json j = json::parse(cfg_json);
  auto id = [&](const char* piece) {
    const int64_t i = v.id_of(piece);
    OT_REQUIRE(i >= 0 && i < v.size, v.name, " has no piece ", piece,
               ": a Gemma 3n tokenizer needs the special pieces omnitune-make-sample adds");
    return i;
  };
  const int64_t eot = id("<end_of_turn>"), boi = id("<start_of_image>"), eoi = id("<end_of_image>"),
                image = id("<image_soft_token>"), boa = id("<start_of_audio>"), eoa = id("<end_of_audio>"),
                audio = id("<audio_soft_token>");
  // The embedders own two ids each, [eoi, image] and [eoa, audio]; a tokenizer that does not place
  // them side by side would route a text piece through an embedder or leave a media token out.
  OT_REQUIRE(image == eoi + 1 && audio == eoa + 1, v.name, ": <image_soft_token> (id ", image,
             ") must follow <end_of_image> (id ", eoi, ") and <audio_soft_token> (id ", audio,
             ") must follow <end_of_audio> (id ", eoa,
             "): train the tokenizer with the special pieces in omnitune-make-sample's order (--user_defined_symbols="
             "<start_of_turn>,<end_of_turn>,<start_of_image>,<end_of_image>,<image_soft_token>,<start_of_audio>,"
             "<end_of_audio>,<audio_soft_token>)");
  for (int64_t other : {v.pad_id, v.eos_id, v.bos_id, eot, boi, boa})
    OT_REQUIRE(other != eoi && other != image && other != eoa && other != audio, v.name, ": id ", other,
               " is both a text id and a media id");
  json& t = j["text_config"];
  t["vocab_size"] = v.size;
  t["vocab_size_per_layer_input"] = v.size;
  t["pad_token_id"] = v.pad_id;
  t["eos_token_id"] = v.eos_id;
  t["bos_token_id"] = v.bos_id;
  j["vision_config"]["vocab_offset"] = eoi;
  j["vision_config"]["vocab_size"] = 2;
  j["audio_config"]["vocab_offset"] = eoa;
  j["audio_config"]["vocab_size"] = 2;
  j["boi_token_id"] = boi;
  j["eoi_token_id"] = eoi;
  j["image_token_id"] = image;
  j["boa_token_id"] = boa;
  j["eoa_token_id"] = eoa;
  j["audio_token_id"] = audio;
  j["eos_token_id"] = {v.eos_id, eot};
  return j.dump(2);
}

int64_t gemma3n_max_audio_samples(const std::string& cfg_json) {
  const Gemma3nConfig cfg = gemma3n_config_parse(cfg_json, "preset config");
  const Gemma3nAudioEncoder enc(cfg.audio, "model.audio_tower", dense_linear_factory());
  const int64_t R = cfg.audio.conf_reduction_factor;
  auto tokens = [&](int64_t frames) { return (enc.frames_after_subsampling(frames) + R - 1) / R; };
  // Feature frames of n samples: (n - 513) / 160 + 1 (gemma-spec D.8); the longest n with the same
  // frame count adds the 159 samples before the next frame would start.
  int64_t frames = (kHfMaxAudioSamples - 513) / 160 + 1;
  while (frames > 1 && tokens(frames) > cfg.audio_soft_tokens_per_image) --frames;
  OT_REQUIRE(tokens(frames) <= cfg.audio_soft_tokens_per_image, "audio_soft_tokens_per_image ",
             cfg.audio_soft_tokens_per_image, " is too small for any clip");
  const int64_t samples = 513 + (frames - 1) * 160 + 159;
  return std::min(kHfMaxAudioSamples, samples / kAudioPadMultiple * kAudioPadMultiple);
}

Gemma3nInitReport gemma3n_write_random_model(const std::string& dir, const std::string& cfg_json, int64_t image_size,
                                             at::ScalarType dtype, uint64_t seed) {
  const Gemma3nConfig cfg = gemma3n_config_parse(cfg_json, dir + "/config.json");
  const TensorShapes layout = mobilenet_v5_300m_layout(kVisionPrefix, cfg.vision.channel_multiplier);
  Gemma3nModel model(cfg, dense_linear_factory(), &layout);
  // The tower's fusion features sit at output stride 16 and are average-pooled to the output
  // resolution: the image side must pool evenly, or the first image would fail in the forward.
  const int64_t R = cfg.vision.msfa_output_resolution;
  OT_REQUIRE(image_size % 32 == 0 && (image_size / 16) % R == 0 && R * R == cfg.vision_soft_tokens_per_image,
             "image size ", image_size, " does not give ", cfg.vision_soft_tokens_per_image,
             " vision soft tokens (msfa_output_resolution ", R, ")");

  ParamList params = model.params();
  params_init_random(params, at::TensorOptions().dtype(dtype), 0.02, seed);
  {
    at::NoGradGuard no_grad;
    for (NamedParam& p : params)
      if (p.name.size() >= 21 && p.name.compare(p.name.size() - 21, 21, ".correct_output_scale") == 0)
        p.tensor->add_(1.0);
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  tensors.reserve(params.size());
  for (const NamedParam& p : params) tensors.push_back({p.name, *p.tensor});

  // config.json last: a directory that has one is complete.
  safetensors_write(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_text(dir + "/preprocessor_config.json",
             preprocessor_config_json(cfg, image_size, gemma3n_max_audio_samples(cfg_json)));
  write_text(dir + "/config.json", cfg_json);
  return {params_numel(params), str_cat(gemma3n_config_describe(cfg), "; vision tower: ", model.vision()->describe())};
}

}  // namespace omnitune
