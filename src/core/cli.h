// The command line every omnitune executable shares, NeMo Automodel style: a YAML recipe plus
// dot-notation overrides. Overrides are only normalized here ("key=value"); Config::load checks
// keys and values against the schema, so both paths report errors the same way.
#pragma once

#include <string>
#include <vector>

namespace omnitune {

struct CliArgs {
  std::string config_file;             // --config PATH, --config=PATH, -c PATH
  std::vector<std::string> overrides;  // normalized "key=value", in command-line order
  bool print_config = false;           // --print-config
  bool help_config = false;            // --help-config
  bool help = false;                   // --help / -h
};

// Accepts --config, --print-config, --help-config, --help/-h, and overrides in three spellings:
// `--optimizer.lr 2e-5`, `--optimizer.lr=2e-5`, `optimizer.lr=2e-5`. Throws Error on an override
// flag without a value, an unknown single-dash option or any other bare positional argument.
CliArgs parse_cli(int argc, const char* const* argv);

// The --help text: `summary` (what the program does) and the options above.
std::string cli_usage(const std::string& program, const std::string& summary);

// For programs with their own option parsing: true when any argument is --help or -h. Such a
// program prints its usage to stdout and exits 0 before parsing anything else.
bool help_requested(int argc, const char* const* argv);

}  // namespace omnitune
