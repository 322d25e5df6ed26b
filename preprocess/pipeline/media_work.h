// One distinct media item -> what a shard stores: an image decoded and resized to the model's
// processor size (uint8), or an audio clip decoded, downmixed, resampled and turned into the
// Gemma 3n log-mel features. Pure functions of the bytes and the settings, so every run (fresh or
// resumed, any rank count) takes the same accept/reject decision for the same bytes.
#pragma once

#include <cstdint>
#include <string>

#include "data/shard_format.h"
#include "media/audio_features.h"
#include "media/image_processor.h"

namespace omnitune {

struct MediaSettings {
  ImageProcessorConfig image;   // target size (preprocessor_config.json)
  AudioFeatureConfig audio;     // Gemma 3n feature extractor constants
  int64_t max_image_pixels = 178956970;
  bool jpeg_dct_scaling = false;
};

// The feature-extractor keys of a Gemma 3n `preprocessor_config.json` (feature_size,
// sampling_rate, frame_length, hop_length, fft_length, preemphasis, min/max_frequency, mel_floor,
// max_length (truncation samples), pad_to_multiple_of); absent keys keep the shipped defaults.
// Settings this extractor does not implement (per-bin normalisation, dither, input scaling) are
// an Error naming the file and key. A missing file gives the defaults.
AudioFeatureConfig audio_feature_config_load(const std::string& model_dir);

// Decodes and resizes one image; gray sources (and RGB with R=G=B) stay single-channel.
// Error (naming `what`) for anything undecodable or over the pixel limit.
ShardImage process_image(const std::string& bytes, const std::string& sha256, const std::string& what,
                         const MediaSettings& s);

// Decodes one clip (any libsndfile format), averages its channels, resamples it to the
// extractor's rate and computes its log-mel frames (truncated at max_length samples, 30 s).
// Error (naming `what`) for empty, corrupt or too short audio.
ShardAudio process_audio(const std::string& bytes, const std::string& what, const MediaSettings& s);

}  // namespace omnitune
