// A resolved, validated config: YAML recipe (with its `defaults:` chain) + dot-notation overrides
// + ${env:...} interpolation, checked against the schema with every unset key at its default.
// Values are typed once at load, so a getter never fails on user input, only on a code bug.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config_schema.h"

namespace omnitune {

class Config {
 public:
  // Loads `file` (empty = schema defaults only), applies `overrides` (each "dotted.key=yaml-value",
  // in order), interpolates ${env:...}, validates against the schema, fills defaults.
  // Throws Error naming the place (file:line or the override) and the fix.
  static Config load(const ConfigSchema& schema, const std::string& file,
                     const std::vector<std::string>& overrides);

  // A getter on an unknown key or with the wrong type is a programming bug: InternalError.
  bool get_bool(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;

  // Where a key's value came from: "configs/x.yaml:12", "command line" or "default".
  std::string source(const std::string& key) const;
  // The resolved config as nested YAML in schema order; Config::load of it gives equal values.
  std::string to_yaml() const;
  // The resolved config as a nested JSON object (non-finite floats become null).
  nlohmann::json to_json() const;
  const ConfigSchema& schema() const;

 private:
  struct Entry {
    ConfigValue value;
    std::string source;
  };
  // The entry for `key`, checking that the key exists and has type `type`.
  const Entry& entry(const std::string& key, ConfigType type) const;

  ConfigSchema schema_;  // a copy, so a Config never outlives the schema it was checked against
  std::map<std::string, Entry> values_;
};

}  // namespace omnitune
