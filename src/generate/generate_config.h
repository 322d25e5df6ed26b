// The config keys of batch generation (`model.path`, `generate.*`): one schema for their names,
// types, defaults and docs (docs/configuration.md is generated from it), and the typed settings
// the batch runner reads.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/config_schema.h"
#include "generate/sampler.h"

namespace omnitune {

struct GenerateSettings {
  std::string model_path, adapter, tokenizer;
  std::string input, output, image_root, system;
  std::string dtype = "auto", attention = "auto";
  int64_t max_new_tokens = 128;
  int64_t batch_size = 8;
  SamplingOptions sampling;  // greedy by default
  bool evaluate = true;
};

void register_generate_config(ConfigSchema& schema);
// Reads and validates the settings (Errors name the key and the fix).
GenerateSettings generate_settings_from(const Config& config);

}  // namespace omnitune
