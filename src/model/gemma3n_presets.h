// Built-in Gemma 3n configurations and the random-weight model directories omnitune-init-model
// writes from them: tiny-3n, a CPU-test-sized model with every part of the real one (AltUp, Laurel,
// PLE, KV sharing, sparsity, Conformer, MobileNetV5), and the released E2B / E4B shapes.
// Real weights cannot be downloaded in CI and the quickstart, so these stand in for them.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>

namespace omnitune {

// True for the Gemma 3n presets: tiny-3n, e2b, e4b.
bool gemma3n_is_preset(const std::string& preset);

// The config.json of preset tiny-3n, e2b or e4b (gemma-spec D.1); an Error names the choices.
// tiny-3n's token ids follow omnitune-make-sample's tokenizer layout until
// gemma3n_config_for_vocab points them at a real tokenizer.
std::string gemma3n_preset_config_json(const std::string& preset);

// Side of the square images the preset's vision tower takes (preprocessor_config.json size).
int64_t gemma3n_preset_image_size(const std::string& preset);

// A tokenizer as the vocabulary sizing sees it: its size, its pad/eos/bos ids and a piece -> id
// lookup that answers -1 for a piece it does not have (kept abstract so this module needs no
// tokenizer library).
struct Gemma3nVocab {
  int64_t size = 0, pad_id = 0, eos_id = 1, bos_id = 2;
  std::function<int64_t(const std::string&)> id_of;
  std::string name;  // the tokenizer file, for errors
};

// A tiny config sized to a tokenizer with omnitune-make-sample's special pieces: text and PLE
// vocabulary = the tokenizer's size; the hard vision ids = [<end_of_image>, <image_soft_token>],
// the hard audio ids = [<end_of_audio>, <audio_soft_token>] (gemma-spec D.7 puts eoi/image and
// eoa/audio in the embedders' ranges, boi/boa in the text range); boi/eoi/boa/eoa/image/audio,
// pad/eos/bos and the stop ids (eos, <end_of_turn>) from the tokenizer. Error when a piece is
// missing or the pieces are not adjacent as that layout needs.
std::string gemma3n_config_for_vocab(const std::string& cfg_json, const Gemma3nVocab& vocab);

// The longest clip (samples at 16 kHz, a multiple of 128) whose soft tokens fit in the config's
// audio_soft_tokens_per_image, at most HF's 480000 (30 s): the feature extractor's max_length.
int64_t gemma3n_max_audio_samples(const std::string& cfg_json);

struct Gemma3nInitReport {
  int64_t parameters = 0;
  std::string description;  // gemma3n_config_describe + the vision tower's stages
};

// Writes a random-weight model directory: config.json (cfg_json), model.safetensors (every tensor
// the model collects, HF names; the vision tower from mobilenet_v5_300m_layout at the config's
// channel_multiplier), preprocessor_config.json (Gemma3nProcessor layout: image_size x image_size,
// rescale without normalisation, the audio feature extractor with gemma3n_max_audio_samples).
// Weights are N(0, 0.02); gains HF initialises to 1 (RMSNorm weights) are N(1, 0.02), and so is
// AltUp's correct_output_scale (HF: 0, which would leave the per-layer-input path dead).
Gemma3nInitReport gemma3n_write_random_model(const std::string& dir, const std::string& cfg_json, int64_t image_size,
                                             at::ScalarType dtype, uint64_t seed);

}  // namespace omnitune
