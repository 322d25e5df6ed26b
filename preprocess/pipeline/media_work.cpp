// Media decoding for the pipeline (see media_work.h).
#include "pipeline/media_work.h"

#include "core/error.h"
#include "media/audio_decode.h"
#include "media/image_decode.h"
#include "media/image_resize.h"

namespace omnitune {

ShardImage process_image(const std::string& bytes, const std::string& sha256, const std::string& what,
                         const MediaSettings& s) {
  DecodeOptions opt;
  opt.max_pixels = s.max_image_pixels;
  opt.collapse_gray_rgb = true;  // gray content stored once, whatever the file's colour type
  if (s.jpeg_dct_scaling) {  // off by default: full-size decode keeps Pillow parity
    opt.target_w = s.image.width;
    opt.target_h = s.image.height;
  }
  Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), opt, what);
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
  AudioFeatures f =
      audio_clip_features(decode_audio(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), what), what, s.audio);
  ShardAudio out;
  out.frames = f.frames;
  out.bins = f.bins;
  out.features = std::move(f.values);
  return out;
}

}  // namespace omnitune
