// The `preprocess.*` config keys (one schema: type, default, doc) and the settings struct the
// pipeline reads, so key names are spelled in one place.
#pragma once

#include <string>

#include "core/config.h"
#include "core/config_schema.h"

namespace omnitune {

void register_preprocess_config(ConfigSchema& schema);

struct PreprocessSettings {
  std::string input, format, split, output_dir, model_dir, tokenizer, image_dir, audio_dir, system_prompt;
  std::string col_question, col_answer, col_image, col_audio, col_case_id, col_mode, col_id;
  int64_t max_length = 2048;
  std::string overlong;  // drop | truncate_answer | fail
  int64_t samples_per_shard = 256;
  std::string on_error;  // skip | fail
  int64_t max_image_pixels = 178956970;
  int64_t threads = 0;
  bool jpeg_dct_scaling = false;
  int image_deflate_level = 0;  // 0: image_compression none; else the gzip level
};

PreprocessSettings preprocess_settings_from(const Config& cfg);

}  // namespace omnitune
