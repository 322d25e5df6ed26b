// Schema bookkeeping, value conversion and the generated key reference. Conversion is strict and
// text-based (YAML 1.2 spellings, no yes/no booleans, no 1.5 for an int) so a value means the same
// thing whether it comes from a file, an override or an environment variable.
#include "core/config_schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/text_util.h"

namespace omnitune {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Index just past a run of digits starting at i.
size_t skip_digits(const std::string& s, size_t i) {
  while (i < s.size() && is_digit(s[i])) ++i;
  return i;
}

bool parse_bool(const std::string& s, bool* out) {
  if (s == "true" || s == "True" || s == "TRUE") return *out = true, true;
  if (s == "false" || s == "False" || s == "FALSE") return *out = false, true;
  return false;
}

bool parse_int(const std::string& s, int64_t* out) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size() || skip_digits(s, i) != s.size()) return false;
  errno = 0;
  long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE) return false;
  *out = v;
  return true;
}

// Decimal and exponent spellings ("2e-5", "1.", ".5", "-3") plus YAML's .inf / .nan.
bool parse_float(const std::string& s, double* out) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  const std::string body = s.substr(i);
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    *out = (s[0] == '-' ? -1 : 1) * std::numeric_limits<double>::infinity();
    return true;
  }
  if (i == 0 && (s == ".nan" || s == ".NaN" || s == ".NAN")) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  size_t int_end = skip_digits(s, i);
  size_t j = int_end;
  bool digits = int_end > i;
  if (j < s.size() && s[j] == '.') {
    size_t frac_end = skip_digits(s, j + 1);
    digits = digits || frac_end > j + 1;
    j = frac_end;
  }
  if (!digits) return false;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    size_t exp_end = skip_digits(s, k);
    if (exp_end == k) return false;
    j = exp_end;
  }
  if (j != s.size()) return false;
  double v = std::strtod(s.c_str(), nullptr);
  if (!std::isfinite(v)) return false;  // overflow such as 1e999
  *out = v;
  return true;
}

// How a type is named in error messages.
const char* type_phrase(ConfigType t) {
  switch (t) {
    case ConfigType::Bool: return "a bool (true or false)";
    case ConfigType::Int: return "an integer";
    case ConfigType::Float: return "a float";
    case ConfigType::String: return "a string";
    case ConfigType::StringList: return "a list of strings, e.g. [a, b]";
    case ConfigType::FloatList: return "a list of floats, e.g. [0.9, 0.999]";
  }
  return "?";
}

// A node as one line of YAML, for messages.
std::string yaml_inline(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string section_of(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

std::string last_segment(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}



// "lr" abbreviates "learning_rate": the initials of the longer name's words.
bool is_abbreviation(const std::string& abbr, const std::string& full) {
  if (abbr.size() < 2 || full.find('_') == std::string::npos) return false;
  std::string initials;
  bool word_start = true;
  for (char c : full) {
    if (c == '_') {
      word_start = true;
    } else if (word_start) {
      initials += c;
      word_start = false;
    }
  }
  return initials == abbr;
}

constexpr double kNoMatch = std::numeric_limits<double>::infinity();

// How far apart two last segments are; kNoMatch when they are not plausibly the same name.
double segment_cost(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  if (is_abbreviation(a, b) || is_abbreviation(b, a)) return 0.5;
  size_t shorter = std::min(a.size(), b.size());
  size_t d = edit_distance(a, b);
  if (d <= std::max<size_t>(1, shorter / 3)) return static_cast<double>(d);
  if (shorter >= 4 && (a.find(b) != std::string::npos || b.find(a) != std::string::npos)) return 1.5;
  return kNoMatch;
}

bool valid_key_name(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
              c == '-' || (c == '.' && key[i + 1] != '.');
    if (!ok) return false;
  }
  return true;
}

// Escapes what would break a table row ('|') or, outside `code`, be taken for an HTML tag ('<N>').
std::string md_escape(const std::string& s, bool in_code) {
  std::string out;
  for (char c : s) {
    if (c == '|' || (c == '<' && !in_code)) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

const char* config_type_name(ConfigType type) {
  switch (type) {
    case ConfigType::Bool: return "bool";
    case ConfigType::Int: return "int";
    case ConfigType::Float: return "float";
    case ConfigType::String: return "string";
    case ConfigType::StringList: return "list[string]";
    case ConfigType::FloatList: return "list[float]";
  }
  return "?";
}

std::string config_value_from_yaml(const ConfigKeySpec& spec, const YAML::Node& node,
                                   ConfigValue* out) {
  const std::string name = "'" + spec.key + "'";
  const char* expected = type_phrase(spec.type);
  if (!node.IsDefined() || node.IsNull())
    return name + " has no value; expected " + expected +
           (spec.type == ConfigType::String ? " (write '' for an empty string)" : "");
  if (node.IsMap())
    return name + " expects " + expected + " but was given a map (" + yaml_inline(node) +
           "); only sections hold nested keys";
  const std::string bad = name + " = '" + yaml_inline(node) + "' is not " + expected;
  switch (spec.type) {
    case ConfigType::Bool: {
      bool b = false;
      if (!node.IsScalar() || !parse_bool(node.Scalar(), &b)) return bad;
      *out = b;
      return "";
    }
    case ConfigType::Int: {
      int64_t i = 0;
      if (!node.IsScalar() || !parse_int(node.Scalar(), &i)) return bad;
      *out = i;
      return "";
    }
    case ConfigType::Float: {
      double d = 0;
      if (!node.IsScalar() || !parse_float(node.Scalar(), &d)) return bad;
      *out = d;
      return "";
    }
    case ConfigType::String: {
      if (!node.IsScalar()) return bad;
      const std::string& s = node.Scalar();
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end())
        return name + " = '" + s + "' is not one of: " + join(spec.choices, ", ");
      *out = s;
      return "";
    }
    case ConfigType::StringList: {
      if (!node.IsSequence()) return bad;
      std::vector<std::string> v;
      for (const auto& e : node) {
        if (!e.IsScalar()) return bad;
        v.push_back(e.Scalar());
      }
      *out = std::move(v);
      return "";
    }
    case ConfigType::FloatList: {
      if (!node.IsSequence()) return bad;
      std::vector<double> v;
      for (const auto& e : node) {
        double d = 0;
        if (!e.IsScalar() || !parse_float(e.Scalar(), &d)) return bad;
        v.push_back(d);
      }
      *out = std::move(v);
      return "";
    }
  }
  return bad;
}

void ConfigSchema::add(ConfigKeySpec spec) {
  const std::string& key = spec.key;
  OT_CHECK(valid_key_name(key), "config key '", key,
           "' is malformed: use dot-separated names of letters, digits, '_' and '-'");
  OT_CHECK(key != "defaults" && key.rfind("defaults.", 0) != 0,
           "'defaults' is reserved for the list of base files");
  OT_CHECK(index_.count(key) == 0, "duplicate config key '", key, "'");
  OT_CHECK(sections_.count(key) == 0, "config key '", key, "' is already a section");
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
    OT_CHECK(index_.count(key.substr(0, dot)) == 0, "config key '", key, "' would turn key '",
             key.substr(0, dot), "' into a section");
  OT_CHECK(spec.choices.empty() || spec.type == ConfigType::String, "config key '", key,
           "': choices are only for string keys");
  // A default that reads the environment can only be checked once it is interpolated (at load).
  if (spec.default_yaml.find("${env:") == std::string::npos) {
    YAML::Node node;
    try {
      node = YAML::Load(spec.default_yaml);
    } catch (const YAML::Exception& e) {
      OT_CHECK(false, "config key '", key, "': default '", spec.default_yaml,
               "' is not valid YAML: ", e.what());
    }
    ConfigValue value;
    std::string err = config_value_from_yaml(spec, node, &value);
    OT_CHECK(err.empty(), "default of config key: ", err);
  }
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1))
    sections_.insert(key.substr(0, dot));
  index_[key] = keys_.size();
  keys_.push_back(std::move(spec));
}

const ConfigKeySpec* ConfigSchema::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &keys_[it->second];
}

const std::vector<ConfigKeySpec>& ConfigSchema::keys() const { return keys_; }

bool ConfigSchema::is_section(const std::string& prefix) const { return sections_.count(prefix) > 0; }

std::string ConfigSchema::closest_key(const std::string& key) const {
  // Sections are candidates too, so a misspelled section name ("optimiser") gets its fix.
  std::vector<std::string> candidates;
  for (const auto& spec : keys_) candidates.push_back(spec.key);
  candidates.insert(candidates.end(), sections_.begin(), sections_.end());

  const std::string section = section_of(key);
  const std::string last = last_segment(key);
  std::string best;
  double best_cost = kNoMatch;
  for (const auto& cand : candidates) {
    double cost = kNoMatch;
    size_t d = edit_distance(key, cand);
    if (d <= std::max<size_t>(2, key.size() / 5)) cost = static_cast<double>(d);
    double seg = segment_cost(last, last_segment(cand));
    if (section_of(cand) == section) {
      cost = std::min(cost, seg);
    } else if (seg <= 0.5) {
      // Same name in another section ("train.lr" for "optimizer.lr"): weaker than a typo.
      cost = std::min(cost, seg + 1.5);
    }
    if (cost < best_cost) {
      best_cost = cost;
      best = cand;
    }
  }
  return best;
}

std::string ConfigSchema::help_table() const {
  // Keys without a dot form the first table, then the top-level sections in order of first
  // appearance.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const ConfigKeySpec*>> groups;
  for (const auto& spec : keys_) {
    size_t dot = spec.key.find('.');
    std::string top = dot == std::string::npos ? "" : spec.key.substr(0, dot);
    if (!groups.count(top)) order.push_back(top);
    groups[top].push_back(&spec);
  }
  if (auto it = std::find(order.begin(), order.end(), std::string()); it != order.end())
    std::rotate(order.begin(), it, it + 1);
  std::ostringstream os;
  os << "# Configuration reference\n\n"
     << "Set a key in a YAML recipe, nested by its dots (`optimizer: {lr: 2e-5}`), or on the command\n"
     << "line (`--optimizer.lr 2e-5`, `--optimizer.lr=2e-5` or `optimizer.lr=2e-5`). A recipe may\n"
     << "start with `defaults: [base.yaml]` to build on other files. `${env:VAR}` and\n"
     << "`${env:VAR,default}` read the environment.\n";
  for (const auto& top : order) {
    os << "\n## " << (top.empty() ? "top level" : top) << "\n\n"
       << "| key | type | default | description |\n"
       << "| --- | --- | --- | --- |\n";
    for (const ConfigKeySpec* spec : groups[top]) {
      std::string type = config_type_name(spec->type);
      if (!spec->choices.empty()) type += ": " + join(spec->choices, "|");
      os << "| `" << md_escape(spec->key, true) << "` | " << md_escape(type, false) << " | `"
         << md_escape(spec->default_yaml, true) << "` | " << md_escape(spec->doc, false) << " |\n";
    }
  }
  return os.str();
}

void register_core_config(ConfigSchema& schema) {
  schema.add({"logging.level", ConfigType::String, "info",
              "lowest level printed: debug, info, warn or error", {"debug", "info", "warn", "error"}});
  schema.add({"logging.rank_files", ConfigType::Bool, "false",
              "every rank also appends its log to <logging.dir>/rank<N>.log", {}});
  schema.add({"logging.dir", ConfigType::String, "logs", "directory for per-rank log files", {}});
}

}  // namespace omnitune
