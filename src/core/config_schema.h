// The config schema: every key any layer reads is declared once here with its type, default and a
// one-line doc, so unknown keys can be rejected with a suggestion, values type-checked at load
// time, and the reference (--help-config) generated instead of written by hand.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace YAML {
class Node;
}

namespace omnitune {

enum class ConfigType { Bool, Int, Float, String, StringList, FloatList };

struct ConfigKeySpec {
  std::string key;                   // dotted full name, e.g. "optimizer.lr"; sections are implied by the dots
  ConfigType type;
  std::string default_yaml;          // default written as YAML text: "2e-5", "[0.9, 0.999]", "''", "true"
  std::string doc;                   // one line
  std::vector<std::string> choices;  // String only: allowed values; empty = any
};

// A typed value; the alternatives are in ConfigType's order, so index() == int(type).
using ConfigValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>,
                                 std::vector<double>>;

class ConfigSchema {
 public:
  // InternalError on a duplicate key, a key that collides with a section ("a" and "a.b"), a
  // malformed name, choices on a non-string key, or a default that does not parse as its type.
  void add(ConfigKeySpec spec);
  const ConfigKeySpec* find(const std::string& key) const;  // nullptr if unknown
  const std::vector<ConfigKeySpec>& keys() const;           // insertion order
  bool is_section(const std::string& prefix) const;         // some key starts with prefix + "."
  // Best suggestion for a mistyped key or section name (edit distance on the dotted key; the last
  // segment is also matched, by edit distance or as an abbreviation like lr = learning_rate,
  // against keys of the same section and, more weakly, of any section); "" if nothing is close.
  std::string closest_key(const std::string& key) const;
  // Markdown reference: one table per top-level section, columns | key | type | default | description |.
  std::string help_table() const;

 private:
  std::vector<ConfigKeySpec> keys_;
  std::map<std::string, size_t> index_;  // key -> position in keys_
  std::set<std::string> sections_;       // every proper dotted prefix of a key
};

const char* config_type_name(ConfigType type);

// Converts a YAML node to `spec`'s type (choices included). Returns "" and sets *out on success,
// else the message without its place, e.g. "'optimizer.lr' = 'fast' is not a float".
std::string config_value_from_yaml(const ConfigKeySpec& spec, const YAML::Node& node,
                                   ConfigValue* out);

// Registers the keys owned by core, which every program reads: logging.*.
void register_core_config(ConfigSchema& schema);

}  // namespace omnitune
