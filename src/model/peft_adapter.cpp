#include "model/peft_adapter.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "nn/tensor_io.h"

namespace omnitune {

bool PeftAdapter::matches(const std::string& module) const {
  if (!target_regex.empty()) return std::regex_match(module, std::regex(target_regex));
  for (const auto& t : target_names)
    if (module == t || (module.size() > t.size() && module.compare(module.size() - t.size() - 1, t.size() + 1, "." + t) == 0))
      return true;
  return false;
}

PeftAdapter peft_adapter_load(const std::string& dir) {
  const std::string cfg_path = dir + "/adapter_config.json";
  OT_REQUIRE(std::filesystem::exists(cfg_path), dir, " is not a PEFT adapter directory (no adapter_config.json)");
  std::ifstream in(cfg_path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  OT_REQUIRE(j.is_object(), cfg_path, " is not valid JSON");
  OT_REQUIRE(j.value("peft_type", "") == "LORA", cfg_path, ": peft_type ", j.value("peft_type", "?"),
             " is not supported (LORA only)");
  OT_REQUIRE(!j.value("use_dora", false), cfg_path, ": DoRA adapters are not supported");
  OT_REQUIRE(!j.value("use_rslora", false), cfg_path, ": rsLoRA scaling is not supported");
  PeftAdapter a;
  a.dir = dir;
  a.lora.rank = j.at("r").get<int64_t>();
  a.lora.alpha = j.value("lora_alpha", double(a.lora.rank));
  const auto& t = j.at("target_modules");
  if (t.is_string()) a.target_regex = t.get<std::string>();
  else a.target_names = t.get<std::vector<std::string>>();
  return a;
}

LinearFactory peft_adapter_factory(const PeftAdapter& a, LinearFactory inner) {
  return lora_linear_factory(std::move(inner), a.lora, [a](const std::string& m) { return a.matches(m); });
}

void peft_adapter_load_weights(const PeftAdapter& a, ParamList& params, at::ScalarType dtype) {
  SafetensorsFile f = SafetensorsFile::open(a.dir + "/adapter_model.safetensors");
  std::set<std::string> unused(f.names().begin(), f.names().end());
  std::vector<std::string> missing;
  for (auto& p : params) {
    if (!is_lora_param(p.name)) continue;
    const std::string key = "base_model.model." + p.name;
    if (!f.contains(key)) {
      missing.push_back(key);
      continue;
    }
    at::Tensor t = safetensors_read(f, key);
    OT_REQUIRE(t.sizes().vec() == p.shape, a.dir, ": ", key, " has shape ", t.sizes(), ", the model needs ",
               at::IntArrayRef(p.shape), " (was the adapter trained on another base model?)");
    *p.tensor = t.to(dtype);
    unused.erase(key);
  }
  OT_REQUIRE(missing.empty() && unused.empty(), a.dir, ": the adapter does not fit the model: ", missing.size(),
             " LoRA tensor(s) missing (first: ", missing.empty() ? "-" : missing[0], "), ", unused.size(),
             " adapter tensor(s) unused (first: ", unused.empty() ? "-" : *unused.begin(), ")");
}

}  // namespace omnitune
