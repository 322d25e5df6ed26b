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

// Decodes and resizes one image; gray sources (and RGB with R=G=B) stay single-channel.
// Error (naming `what`) for anything undecodable or over the pixel limit.
ShardImage process_image(const std::string& bytes, const std::string& sha256, const std::string& what,
                         const MediaSettings& s);

// One clip's log-mel frames for a shard (audio_clip_features, media/audio_features.h).
ShardAudio process_audio(const std::string& bytes, const std::string& what, const MediaSettings& s);

}  // namespace omnitune
