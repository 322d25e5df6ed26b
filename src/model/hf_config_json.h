// Reading Hugging Face `config.json` files: the typed field reader and the file/JSON loaders the
// Gemma 3 and Gemma 3n config parsers share. Missing or null fields keep the caller's default
// (HF configs are sparse); a field of the wrong type is an Error naming the source and the key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace omnitune {

template <typename T>
void hf_config_read(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    out = it->template get<T>();
  } catch (const nlohmann::json::exception&) {
    OT_FAIL(where, ": field '", key, "' has an unexpected type (", it->dump(), ")");
  }
}

// Parses JSON text that must be an object; `where` names the source in errors.
nlohmann::json hf_config_parse_object(const std::string& text, const std::string& where);

// The text of `dir/config.json`, or of `path` itself when it is a file; sets `file` to what was read.
std::string hf_config_read_file(const std::string& path, std::string& file);

// The top-level `model_type` of `dir/config.json` ("gemma3", "gemma3n", ...), "" when absent.
std::string hf_config_model_type(const std::string& path);

}  // namespace omnitune
