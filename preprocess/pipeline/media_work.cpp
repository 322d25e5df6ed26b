// Media decoding for the pipeline (see media_work.h).
#include "pipeline/media_work.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "media/audio_decode.h"
#include "media/image_decode.h"
#include "media/image_resize.h"

namespace omnitune {

using json = nlohmann::json;

AudioFeatureConfig audio_feature_config_load(const std::string& model_dir) {
  AudioFeatureConfig c;
  const std::string file = model_dir + "/preprocessor_config.json";
  std::ifstream in(file);
  if (!in.good()) return c;
  json j = json::parse(in, nullptr, false);
  OT_REQUIRE(j.is_object(), file, " is not valid JSON");
  try {
    auto num = [&](const char* key, auto& field) {
      if (j.contains(key) && !j[key].is_null()) field = j[key].get<std::remove_reference_t<decltype(field)>>();
    };
    num("feature_size", c.mel_bins);
    num("sampling_rate", c.sample_rate);
    num("frame_length", c.frame_length);
    num("hop_length", c.hop_length);
    num("fft_length", c.fft_length);
    num("preemphasis", c.preemphasis);
    num("min_frequency", c.min_freq);
    num("max_frequency", c.max_freq);
    num("mel_floor", c.mel_floor);
    num("max_length", c.max_samples);
    num("pad_to_multiple_of", c.pad_to_multiple_of);
    for (const char* key : {"per_bin_mean", "per_bin_stddev"})
      OT_REQUIRE(!j.contains(key) || j[key].is_null(), file, ": ", key, " is not supported (set it to null)");
    OT_REQUIRE(j.value("dither", 0.0) == 0.0, file, ": dither is not supported (set it to 0.0)");
    OT_REQUIRE(j.value("input_scale_factor", 1.0) == 1.0, file, ": input_scale_factor is not supported (set it to 1.0)");
  } catch (const json::exception& e) {
    OT_FAIL(file, ": a feature-extractor field has an unexpected type (", e.what(), ")");
  }
  return c;
}

ShardImage process_image(const std::string& bytes, const std::string& sha256, const std::string& what,
                         const MediaSettings& s) {
  DecodeOptions opt;
  opt.max_pixels = s.max_image_pixels;
  if (s.jpeg_dct_scaling) {  // off by default: full-size decode keeps Pillow parity
    opt.target_w = s.image.width;
    opt.target_h = s.image.height;
  }
  Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), opt, what);
  if (img.channels == 3) img = collapse_gray_rgb(std::move(img));
  if (img.width != s.image.width || img.height != s.image.height) img = resize_bilinear(img, s.image.width, s.image.height);
  ShardImage out;
  out.sha256 = sha256;
  out.width = img.width;
  out.height = img.height;
  out.channels = img.channels;
  out.pixels = std::move(img.pixels);
  return out;
}

ShardAudio process_audio(const std::string& bytes, const std::string& what, const MediaSettings& s) {
  AudioClip clip = decode_audio(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), what);
  // Only the samples the extractor keeps are resampled (a long clip costs no more than 30 s).
  const int64_t keep = static_cast<int64_t>(clip.sample_rate) * s.audio.max_samples / s.audio.sample_rate + clip.sample_rate;
  if (static_cast<int64_t>(clip.samples.size()) > keep) clip.samples.resize(static_cast<size_t>(keep));
  if (clip.sample_rate != s.audio.sample_rate) clip = resample(clip, s.audio.sample_rate);
  AudioFeatures f = gemma3n_log_mel(clip, s.audio, what);
  ShardAudio out;
  out.frames = f.frames;
  out.bins = f.bins;
  out.features = std::move(f.values);
  return out;
}

}  // namespace omnitune
