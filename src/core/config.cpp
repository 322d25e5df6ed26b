// Loading works in two passes. First every file in the defaults chain and every override is
// flattened into dotted-key assignments, in precedence order, checking key names and shape (map vs
// value) at the line that wrote them. Then only the winning assignment of each key is interpolated
// and converted, so an overridden value never has to be valid (or have its env vars set).
#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace omnitune {
namespace {

namespace fs = std::filesystem;

const char* const kEnvOpen = "${env:";

// One value written for one key, with where it was written.
struct Assignment {
  std::string key;
  YAML::Node value;
  std::string place;   // for messages: "configs/run.yaml:7" or "command line override --x.y"
  std::string source;  // for Config::source(): "configs/run.yaml:7" or "command line"
};

std::string line_of(const YAML::Node& node) { return std::to_string(node.Mark().line + 1); }

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

// Replaces every ${env:VAR} and ${env:VAR,default} in `text`; `key` and `place` name the value in
// the error raised for an unset variable without a default.
std::string interpolate_env(const std::string& text, const std::string& key,
                            const std::string& place) {
  std::string out;
  size_t pos = 0;
  for (size_t start = text.find(kEnvOpen); start != std::string::npos;
       start = text.find(kEnvOpen, pos)) {
    out += text.substr(pos, start - pos);
    size_t body_start = start + std::string(kEnvOpen).size();
    size_t close = text.find('}', body_start);
    OT_REQUIRE(close != std::string::npos, place, ": '", key, "' = '", text,
               "' has an unterminated ${env:...}; write ${env:VAR} or ${env:VAR,default}");
    std::string body = text.substr(body_start, close - body_start);
    size_t comma = body.find(',');
    std::string var = trim(body.substr(0, comma));
    OT_REQUIRE(!var.empty(), place, ": '", key, "' = '", text, "' names no environment variable");
    if (const char* value = std::getenv(var.c_str())) {
      out += value;
    } else {
      OT_REQUIRE(comma != std::string::npos, place, ": '", key, "' uses ${env:", var, "} but ", var,
                 " is not set; export it or give a default: ${env:", var, ",value}");
      out += trim(body.substr(comma + 1));
    }
    pos = close + 1;
  }
  return out + text.substr(pos);
}

bool has_env(const YAML::Node& n) {
  return n.IsScalar() && n.Scalar().find(kEnvOpen) != std::string::npos;
}

// Interpolates the string scalars of a value before it is converted, so "${env:LR,1e-4}" can be a
// float. A whole list may come from one variable ("${env:BETAS,[0.9, 0.95]}") for list keys.
YAML::Node interpolate_node(const YAML::Node& node, const ConfigKeySpec& spec,
                            const std::string& place) {
  if (has_env(node)) {
    std::string text = interpolate_env(node.Scalar(), spec.key, place);
    if (spec.type == ConfigType::StringList || spec.type == ConfigType::FloatList) {
      try {
        YAML::Node parsed = YAML::Load(text);
        if (parsed.IsSequence()) return parsed;
      } catch (const YAML::Exception&) {
        // Not a list: the scalar is reported by the type check below.
      }
    }
    return YAML::Node(text);
  }
  if (node.IsSequence() && std::any_of(node.begin(), node.end(), has_env)) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const YAML::Node& e : node)
      out.push_back(has_env(e) ? YAML::Node(interpolate_env(e.Scalar(), spec.key, place)) : e);
    return out;
  }
  return node;
}

// Flattens files and overrides into assignments, in precedence order (later wins).
class Loader {
 public:
  explicit Loader(const ConfigSchema& schema) : schema_(schema) {}

  // `named_at` / `named_as`: the "file:line" and entry text of the defaults entry that named this
  // file; both empty for the file given on the command line.
  void load_file(const std::string& path, const std::string& named_at, const std::string& named_as);
  void load_override(const std::string& text);

  std::vector<Assignment> assignments;

 private:
  void load_defaults(const YAML::Node& key_node, const YAML::Node& list, const std::string& file);
  // Records `value` for `key`, descending into sections. `file` is empty for an override.
  void add(const std::string& key, const YAML::Node& value, const std::string& file,
           const std::string& place, const std::string& source);
  std::string first_key_under(const std::string& section) const;

  const ConfigSchema& schema_;
  std::vector<std::string> chain_;        // files being loaded, outermost first, as displayed
  std::vector<fs::path> chain_canonical_;  // the same files, for cycle detection
};

void Loader::load_file(const std::string& path, const std::string& named_at,
                       const std::string& named_as) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  if (ec) canonical = fs::absolute(path);
  auto seen = std::find(chain_canonical_.begin(), chain_canonical_.end(), canonical);
  if (seen != chain_canonical_.end()) {
    std::string cycle;
    for (size_t i = seen - chain_canonical_.begin(); i < chain_.size(); ++i) cycle += chain_[i] + " -> ";
    OT_FAIL(named_at, ": defaults cycle: ", cycle, path, "; remove one of these defaults entries");
  }
  if (!fs::is_regular_file(path)) {
    OT_REQUIRE(!named_at.empty(), "config file '", path, "' not found",
               fs::is_directory(path) ? " (it is a directory)" : "");
    std::string chain;
    for (const auto& f : chain_) chain += f + " -> ";
    OT_FAIL(named_at, ": defaults file '", named_as, "' not found: looked for ", path,
            " (defaults paths are relative to the file that names them; chain: ", chain, path, ")");
  }

  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::ParserException& e) {
    OT_FAIL(path, ":", e.mark.line + 1, ": invalid YAML: ", e.msg);
  } catch (const YAML::Exception& e) {
    OT_FAIL("cannot read config file '", path, "': ", e.what());
  }
  if (root.IsNull()) return;  // an empty file sets nothing
  OT_REQUIRE(root.IsMap(), path, ": a config file must be a map of keys (e.g. 'seed: 7'), not a ",
             root.IsSequence() ? "list" : "single value");

  chain_.push_back(path);
  chain_canonical_.push_back(canonical);
  // Bases first, wherever `defaults` appears in the file, then the file's own keys on top.
  for (const auto& kv : root) {
    OT_REQUIRE(kv.first.IsScalar(), path, ":", line_of(kv.first), ": a key must be a plain name");
    if (kv.first.Scalar() == "defaults") load_defaults(kv.first, kv.second, path);
  }
  for (const auto& kv : root) {
    if (kv.first.Scalar() == "defaults") continue;
    std::string place = path + ":" + line_of(kv.first);
    add(kv.first.Scalar(), kv.second, path, place, place);
  }
  chain_.pop_back();
  chain_canonical_.pop_back();
}

void Loader::load_defaults(const YAML::Node& key_node, const YAML::Node& list,
                           const std::string& file) {
  const std::string at = file + ":" + line_of(key_node);
  if (list.IsNull()) return;
  OT_REQUIRE(list.IsScalar() || list.IsSequence(), at,
             ": 'defaults' must be a file name or a list of file names, e.g. defaults: [base.yaml]");
  std::vector<YAML::Node> entries;
  if (list.IsScalar()) {
    entries.push_back(list);
  } else {
    for (const auto& e : list) entries.push_back(e);
  }
  for (const auto& e : entries) {
    OT_REQUIRE(e.IsScalar(), at, ": 'defaults' entries must be file names, e.g. defaults: [base.yaml]");
    std::string name = interpolate_env(e.Scalar(), "defaults", at);
    fs::path p(name);
    fs::path resolved = p.is_absolute() ? p : fs::path(file).parent_path() / p;
    load_file(resolved.lexically_normal().string(), at, name);
  }
}

void Loader::load_override(const std::string& text) {
  size_t eq = text.find('=');
  OT_REQUIRE(eq != std::string::npos, "command line override '", text,
             "' has no value: write key=value, e.g. optimizer.lr=2e-5");
  const std::string key = text.substr(0, eq);
  const std::string raw = text.substr(eq + 1);
  OT_REQUIRE(!key.empty(), "command line override '", text, "' has no key: write key=value");
  const std::string place = "command line override --" + key;
  YAML::Node value;
  try {
    value = YAML::Load(raw);
  } catch (const YAML::Exception& e) {
    OT_FAIL(place, ": cannot read '", raw, "' as a YAML value (", e.msg,
            "); quote text that contains YAML punctuation");
  }
  add(key, value, "", place, "command line");
}

void Loader::add(const std::string& key, const YAML::Node& value, const std::string& file,
                 const std::string& place, const std::string& source) {
  if (const ConfigKeySpec* spec = schema_.find(key)) {
    OT_REQUIRE(!value.IsMap(), place, ": '", key, "' is a single value (",
               config_type_name(spec->type), "), not a section, but was given a map; write one "
               "value (quote text that contains ': ')");
    assignments.push_back({key, value, place, source});
    return;
  }
  if (schema_.is_section(key)) {
    if (value.IsNull()) return;  // an empty section ("optimizer:") sets nothing
    OT_REQUIRE(value.IsMap(), place, ": '", key, "' is a section, not a value; set its keys instead (e.g. '",
               first_key_under(key), "')");
    for (const auto& kv : value) {
      OT_REQUIRE(kv.first.IsScalar(), place, ": keys under '", key, "' must be plain names");
      // Nested keys of a file get their own line; those of an override share the flag.
      std::string child_place = file.empty() ? place : file + ":" + line_of(kv.first);
      add(key + "." + kv.first.Scalar(), kv.second, file, child_place,
          file.empty() ? source : child_place);
    }
    return;
  }
  std::string hint = schema_.closest_key(key);
  OT_FAIL(place, ": unknown key '", key, "'", hint.empty() ? "" : "; did you mean '" + hint + "'?",
          " (--help-config lists every key)");
}

std::string Loader::first_key_under(const std::string& section) const {
  for (const auto& spec : schema_.keys())
    if (spec.key.rfind(section + ".", 0) == 0) return spec.key;
  return section + ".<key>";
}

// Shortest decimal text that reads back as exactly `v`, always spelled as a float ("600.0").
std::string format_float(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v < 0 ? "-.inf" : ".inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// Quotes strings a YAML reader would take for null, a bool or a number, or would trim.
void emit_string(YAML::Emitter& out, const std::string& s) {
  static const char* const kSpecial[] = {"~",  "null", "Null", "NULL", "true", "True", "TRUE",
                                         "false", "False", "FALSE", "yes", "Yes", "YES", "no",
                                         "No", "NO", "on", "On", "ON", "off", "Off", "OFF"};
  bool quote = s.empty() || std::isspace(static_cast<unsigned char>(s.front())) ||
               std::isspace(static_cast<unsigned char>(s.back())) ||
               std::string("0123456789+-.").find(s.front()) != std::string::npos;
  for (const char* special : kSpecial) quote = quote || s == special;
  if (quote) out << YAML::DoubleQuoted;
  out << s;
}

void emit_value(YAML::Emitter& out, const ConfigValue& value) {
  switch (static_cast<ConfigType>(value.index())) {
    case ConfigType::Bool: out << (std::get<bool>(value) ? "true" : "false"); break;
    case ConfigType::Int: out << static_cast<long long>(std::get<int64_t>(value)); break;
    case ConfigType::Float: out << format_float(std::get<double>(value)); break;
    case ConfigType::String: emit_string(out, std::get<std::string>(value)); break;
    case ConfigType::StringList:
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto& s : std::get<std::vector<std::string>>(value)) emit_string(out, s);
      out << YAML::EndSeq;
      break;
    case ConfigType::FloatList:
      out << YAML::Flow << YAML::BeginSeq;
      for (double d : std::get<std::vector<double>>(value)) out << format_float(d);
      out << YAML::EndSeq;
      break;
  }
}

}  // namespace

Config Config::load(const ConfigSchema& schema, const std::string& file,
                    const std::vector<std::string>& overrides) {
  Loader loader(schema);
  if (!file.empty()) loader.load_file(fs::path(file).lexically_normal().string(), "", "");
  for (const auto& o : overrides) loader.load_override(o);

  std::map<std::string, const Assignment*> winner;
  for (const auto& a : loader.assignments) winner[a.key] = &a;

  Config cfg;
  cfg.schema_ = schema;
  for (const auto& spec : schema.keys()) {
    auto it = winner.find(spec.key);
    const bool set = it != winner.end();
    const std::string place = set ? it->second->place : "schema default";
    const YAML::Node raw = set ? it->second->value : YAML::Load(spec.default_yaml);
    Entry entry;
    std::string err = config_value_from_yaml(spec, interpolate_node(raw, spec, place), &entry.value);
    OT_REQUIRE(err.empty(), place, ": ", err);
    entry.source = set ? it->second->source : "default";
    cfg.values_[spec.key] = std::move(entry);
  }
  return cfg;
}

const Config::Entry& Config::entry(const std::string& key, ConfigType type) const {
  const ConfigKeySpec* spec = schema_.find(key);
  OT_CHECK(spec, "config key '", key, "' is not in the schema");
  OT_CHECK(spec->type == type, "config key '", key, "' is ", config_type_name(spec->type),
           " but was read as ", config_type_name(type));
  return values_.at(key);
}

bool Config::get_bool(const std::string& key) const {
  return std::get<bool>(entry(key, ConfigType::Bool).value);
}

int64_t Config::get_int(const std::string& key) const {
  return std::get<int64_t>(entry(key, ConfigType::Int).value);
}

double Config::get_float(const std::string& key) const {
  return std::get<double>(entry(key, ConfigType::Float).value);
}

std::string Config::get_string(const std::string& key) const {
  return std::get<std::string>(entry(key, ConfigType::String).value);
}

std::vector<std::string> Config::get_string_list(const std::string& key) const {
  return std::get<std::vector<std::string>>(entry(key, ConfigType::StringList).value);
}

std::vector<double> Config::get_float_list(const std::string& key) const {
  return std::get<std::vector<double>>(entry(key, ConfigType::FloatList).value);
}

std::string Config::source(const std::string& key) const {
  auto it = values_.find(key);
  OT_CHECK(it != values_.end(), "config key '", key, "' is not in the schema");
  return it->second.source;
}

std::string Config::to_yaml() const {
  // Nest the dotted keys, each section placed where its first key appears in the schema.
  struct Emit {
    const Config& cfg;
    void map(YAML::Emitter& out, const std::vector<const ConfigKeySpec*>& specs, size_t depth) {
      std::vector<std::string> order;
      std::map<std::string, std::vector<const ConfigKeySpec*>> groups;
      for (const ConfigKeySpec* spec : specs) {
        std::string segment = split_key(spec->key)[depth];
        if (!groups.count(segment)) order.push_back(segment);
        groups[segment].push_back(spec);
      }
      out << YAML::BeginMap;
      for (const auto& segment : order) {
        const auto& group = groups[segment];
        out << YAML::Key << segment << YAML::Value;
        if (split_key(group[0]->key).size() == depth + 1) {
          emit_value(out, cfg.values_.at(group[0]->key).value);
        } else {
          map(out, group, depth + 1);
        }
      }
      out << YAML::EndMap;
    }
  };
  std::vector<const ConfigKeySpec*> specs;
  for (const auto& spec : schema_.keys()) specs.push_back(&spec);
  YAML::Emitter out;
  Emit{*this}.map(out, specs, 0);
  return std::string(out.c_str()) + "\n";
}

nlohmann::json Config::to_json() const {
  nlohmann::json root = nlohmann::json::object();
  for (const auto& spec : schema_.keys()) {
    std::vector<std::string> parts = split_key(spec.key);
    nlohmann::json* node = &root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) node = &(*node)[parts[i]];
    (*node)[parts.back()] =
        std::visit([](const auto& v) { return nlohmann::json(v); }, values_.at(spec.key).value);
  }
  return root;
}

const ConfigSchema& Config::schema() const { return schema_; }

}  // namespace omnitune
