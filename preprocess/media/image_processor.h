// The Gemma image processor settings (`preprocessor_config.json` of a model directory) and the
// last step of the processor: uint8 RGB at the model's size -> normalised float CHW pixels
// (x * rescale_factor, then (x - mean) / std when do_normalize). Gemma 3: 896x896, mean = std =
// 0.5 (pixels in [-1, 1]); Gemma 3n: 768x768, no normalisation ([0, 1]). Shards store the uint8
// image plus these constants; training and generation apply them at load time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace omnitune {

struct ImageProcessorConfig {
  int height = 896, width = 896;
  int resample = 2;                 // PIL code; 2 = BILINEAR, the only one supported
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> mean{0.5, 0.5, 0.5};
  std::array<double, 3> std{0.5, 0.5, 0.5};
  bool do_convert_rgb = true;
  int image_seq_length = 256;       // soft tokens per image
  std::string source;               // the file it came from ("" = defaults)
};

// Reads `dir/preprocessor_config.json` (or a path to it). Unsupported settings (another resample
// filter, pan-and-scan) are Errors naming the file and key.
ImageProcessorConfig image_processor_load(const std::string& path);
ImageProcessorConfig image_processor_parse(const std::string& json_text, const std::string& where);

// The factor uint8 values are multiplied by: rescale_factor, or 1 when do_rescale is false. This
// is what shards record (image_rescale_factor) and what the loader applies.
double image_processor_effective_rescale(const ImageProcessorConfig& cfg);

// uint8 HWC RGB (already width x height) -> float CHW, rescaled and normalised. The arithmetic
// is done in double and stored as float, as HF's slow processor does.
std::vector<float> image_processor_normalize(const uint8_t* rgb, int width, int height,
                                             const ImageProcessorConfig& cfg);

}  // namespace omnitune
