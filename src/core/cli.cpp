// Command-line parsing without a flag library: the grammar is small (a handful of fixed options
// plus key=value overrides) and its errors must read like the config's own.
#include "core/cli.h"

#include "core/error.h"

#include <cstring>

namespace omnitune {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// An override key is a dotted name; anything else is a typo worth stopping on here.
void check_override_key(const std::string& key, const std::string& arg) {
  bool ok = !key.empty() && key.front() != '-' && key.front() != '.';
  for (char c : key)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  OT_REQUIRE(ok, "'", arg, "' is not a valid override: write --key value, --key=value or key=value "
             "with a dotted key such as optimizer.lr (see --help)");
  OT_REQUIRE(key != "config" && key != "print-config" && key != "help-config" && key != "help",
             "'", arg, "': --", key, key == "config" ? " takes a path: --config PATH" : " takes no value");
}

}  // namespace

CliArgs parse_cli(int argc, const char* const* argv) {
  CliArgs args;
  bool have_config = false;
  auto set_config = [&](const std::string& path) {
    OT_REQUIRE(!have_config, "--config given twice ('", args.config_file, "' and '", path,
               "'): give one recipe; it can name others in its defaults: list");
    OT_REQUIRE(!path.empty(), "--config needs a path, e.g. --config configs/run.yaml");
    args.config_file = path;
    have_config = true;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    // The value of `--flag VALUE`; a following "--..." means the value was forgotten.
    auto value_of = [&](const std::string& flag, const std::string& example) {
      OT_REQUIRE(i + 1 < argc && !starts_with(argv[i + 1], "--"), flag, " needs a value, e.g. ",
                 example);
      return std::string(argv[++i]);
    };
    if (arg == "-h" || arg == "--help") {
      args.help = true;
    } else if (arg == "--print-config") {
      args.print_config = true;
    } else if (arg == "--help-config") {
      args.help_config = true;
    } else if (arg == "--config" || arg == "-c") {
      set_config(value_of(arg, arg + " configs/run.yaml"));
    } else if (starts_with(arg, "--config=")) {
      set_config(arg.substr(9));
    } else if (starts_with(arg, "--")) {
      const std::string body = arg.substr(2);
      const size_t eq = body.find('=');
      const std::string key = body.substr(0, eq);
      check_override_key(key, arg);
      args.overrides.push_back(eq != std::string::npos
                                   ? body
                                   : key + "=" + value_of("override " + arg, arg + " VALUE or " + arg + "=VALUE"));
    } else if (arg.size() > 1 && arg[0] == '-') {
      OT_FAIL("unknown option '", arg, "' (see --help)");
    } else {
      const size_t eq = arg.find('=');
      OT_REQUIRE(eq != std::string::npos, "unexpected argument '", arg,
                 "': give the recipe as --config PATH and overrides as key=value or --key value "
                 "(see --help)");
      check_override_key(arg.substr(0, eq), arg);
      args.overrides.push_back(arg);
    }
  }
  return args;
}

bool help_requested(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  return false;
}

std::string cli_usage(const std::string& program, const std::string& summary) {
  return "usage: " + program + " [--config PATH] [--KEY VALUE | --KEY=VALUE | KEY=VALUE]...\n\n" +
         summary + "\n\n"
         "options:\n"
         "  -c, --config PATH   YAML recipe to load; it may start with `defaults: [base.yaml]`\n"
         "                      (paths relative to the recipe) to build on other files\n"
         "  --KEY VALUE, --KEY=VALUE, KEY=VALUE\n"
         "                      override one config key, e.g. --optimizer.lr 2e-5 or seed=7;\n"
         "                      values are YAML (lists as [a, b]) and may use ${env:VAR,default};\n"
         "                      applied after the recipe, in order, the last one winning\n"
         "  --print-config      print the resolved config as YAML and exit\n"
         "  --help-config       print every config key with its type, default and description\n"
         "  -h, --help          print this help and exit\n";
}

}  // namespace omnitune
