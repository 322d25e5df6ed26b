// Processor settings and normalisation. Kept free of LibTorch so the preprocessor and the
// LibTorch apps share it.
#include "media/image_processor.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>

#include "core/error.h"

namespace omnitune {

using json = nlohmann::json;

ImageProcessorConfig image_processor_parse(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    OT_FAIL(where, ": not valid JSON (", e.what(), ")");
  }
  ImageProcessorConfig c;
  c.source = where;
  try {
    if (j.contains("size")) {
      const json& s = j["size"];
      if (s.contains("height")) c.height = s["height"].get<int>();
      if (s.contains("width")) c.width = s["width"].get<int>();
      if (s.contains("shortest_edge")) OT_FAIL(where, ": size.shortest_edge is not supported (Gemma uses a fixed height x width)");
    }
    if (j.contains("resample") && !j["resample"].is_null()) c.resample = j["resample"].get<int>();
    if (j.contains("do_rescale") && !j["do_rescale"].is_null()) c.do_rescale = j["do_rescale"].get<bool>();
    if (j.contains("rescale_factor")) c.rescale_factor = j["rescale_factor"].get<double>();
    if (j.contains("do_normalize") && !j["do_normalize"].is_null()) c.do_normalize = j["do_normalize"].get<bool>();
    if (j.contains("image_mean")) {
      auto v = j["image_mean"].get<std::vector<double>>();
      OT_REQUIRE(v.size() == 3, where, ": image_mean needs 3 values");
      c.mean = {v[0], v[1], v[2]};
    }
    if (j.contains("image_std")) {
      auto v = j["image_std"].get<std::vector<double>>();
      OT_REQUIRE(v.size() == 3, where, ": image_std needs 3 values");
      c.std = {v[0], v[1], v[2]};
    }
    if (j.contains("image_seq_length")) c.image_seq_length = j["image_seq_length"].get<int>();
    if (j.contains("do_pan_and_scan") && j["do_pan_and_scan"].is_boolean() && j["do_pan_and_scan"].get<bool>())
      OT_FAIL(where, ": do_pan_and_scan=true is not supported yet; set it to false or null");
  } catch (const json::exception& e) {
    OT_FAIL(where, ": a field has an unexpected type (", e.what(), ")");
  }
  OT_REQUIRE(c.resample == 2, where, ": resample=", c.resample, " is not supported (only 2 = bilinear, Gemma's)");
  OT_REQUIRE(c.height > 0 && c.width > 0, where, ": size must be positive");
  return c;
}

ImageProcessorConfig image_processor_load(const std::string& path) {
  std::string file = path;
  struct stat st{};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) file = path + "/preprocessor_config.json";
  std::ifstream in(file);
  OT_REQUIRE(in.good(), "cannot read ", file, ": a Gemma 3 model directory needs preprocessor_config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return image_processor_parse(ss.str(), file);
}

double image_processor_effective_rescale(const ImageProcessorConfig& cfg) {
  return cfg.do_rescale ? cfg.rescale_factor : 1.0;
}

std::vector<float> image_processor_normalize(const uint8_t* rgb, int width, int height,
                                             const ImageProcessorConfig& cfg) {
  const size_t plane = static_cast<size_t>(width) * height;
  std::vector<float> out(3 * plane);
  for (int c = 0; c < 3; ++c) {
    // Per channel, each of the 256 input values maps to one output: a lookup table.
    float lut[256];
    for (int v = 0; v < 256; ++v) {
      double x = v * image_processor_effective_rescale(cfg);
      if (cfg.do_normalize) x = (x - cfg.mean[c]) / cfg.std[c];
      lut[v] = static_cast<float>(x);
    }
    float* dst = out.data() + c * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = lut[rgb[3 * i + c]];
  }
  return out;
}

}  // namespace omnitune
