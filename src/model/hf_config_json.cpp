#include "model/hf_config_json.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace omnitune {

nlohmann::json hf_config_parse_object(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    OT_FAIL(where, ": not valid JSON (", e.what(), ")");
  }
  OT_REQUIRE(j.is_object(), where, ": expected a JSON object");
  return j;
}

std::string hf_config_read_file(const std::string& path, std::string& file) {
  file = path;
  struct stat st{};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) file = path + "/config.json";
  std::ifstream in(file);
  OT_REQUIRE(in.good(), "cannot read ", file, ": a Hugging Face model directory needs config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string hf_config_model_type(const std::string& path) {
  std::string file;
  const nlohmann::json j = hf_config_parse_object(hf_config_read_file(path, file), file);
  std::string type;
  hf_config_read(j, "model_type", type, file);
  return type;
}

}  // namespace omnitune
