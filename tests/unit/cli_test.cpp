// Command-line parsing shared by every executable: the option spellings, the three override
// spellings normalized to key=value, and the errors for a forgotten value or a stray argument.
#include <gtest/gtest.h>

#include <initializer_list>

#include "core/cli.h"
#include "core/error.h"

namespace omnitune {
namespace {

// Parses {"prog", args...}.
CliArgs parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"omnitune-test"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_cli(static_cast<int>(argv.size()), argv.data());
}

std::string error_of(std::initializer_list<const char*> args) {
  try {
    parse(args);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected omnitune::Error, nothing was thrown";
  return "";
}

TEST(Cli, NoArgumentsGivesEmptyArgs) {
  CliArgs a = parse({});
  EXPECT_EQ(a.config_file, "");
  EXPECT_TRUE(a.overrides.empty());
  EXPECT_FALSE(a.print_config);
  EXPECT_FALSE(a.help_config);
  EXPECT_FALSE(a.help);
}

TEST(Cli, ConfigInAllSpellings) {
  EXPECT_EQ(parse({"--config", "configs/a.yaml"}).config_file, "configs/a.yaml");
  EXPECT_EQ(parse({"--config=configs/b.yaml"}).config_file, "configs/b.yaml");
  EXPECT_EQ(parse({"-c", "c.yaml"}).config_file, "c.yaml");
}

TEST(Cli, FlagsAreRecognized) {
  CliArgs a = parse({"--print-config", "--help-config", "-h"});
  EXPECT_TRUE(a.print_config);
  EXPECT_TRUE(a.help_config);
  EXPECT_TRUE(a.help);
  EXPECT_TRUE(parse({"--help"}).help);
}

TEST(Cli, OverridesInAllThreeSpellingsAreNormalizedInOrder) {
  CliArgs a = parse({"--optimizer.lr", "2e-5", "--train.max_steps=10", "data.files=[a, b]",
                     "--config", "run.yaml", "--seed", "7", "--distributed.dp", "-1",
                     "--data.root=", "--prompt=x=y"});
  EXPECT_EQ(a.config_file, "run.yaml");
  EXPECT_EQ(a.overrides,
            (std::vector<std::string>{"optimizer.lr=2e-5", "train.max_steps=10", "data.files=[a, b]",
                                      "seed=7", "distributed.dp=-1", "data.root=", "prompt=x=y"}));
}

TEST(Cli, OverrideFlagWithoutValueIsAnErrorNamingIt) {
  EXPECT_EQ(error_of({"--optimizer.lr"}),
            "override --optimizer.lr needs a value, e.g. --optimizer.lr VALUE or --optimizer.lr=VALUE");
  EXPECT_EQ(error_of({"--seed", "--print-config"}),
            "override --seed needs a value, e.g. --seed VALUE or --seed=VALUE");
  EXPECT_EQ(error_of({"--config"}), "--config needs a value, e.g. --config configs/run.yaml");
  EXPECT_EQ(error_of({"-c"}), "-c needs a value, e.g. -c configs/run.yaml");
  EXPECT_EQ(error_of({"--config="}), "--config needs a path, e.g. --config configs/run.yaml");
}

TEST(Cli, StrayArgumentsAndUnknownOptionsAreErrors) {
  EXPECT_EQ(error_of({"run.yaml"}),
            "unexpected argument 'run.yaml': give the recipe as --config PATH and overrides as "
            "key=value or --key value (see --help)");
  EXPECT_EQ(error_of({"-x"}), "unknown option '-x' (see --help)");
  EXPECT_EQ(error_of({"--=3"}),
            "'--=3' is not a valid override: write --key value, --key=value or key=value with a "
            "dotted key such as optimizer.lr (see --help)");
  EXPECT_EQ(error_of({"a b=3"}),
            "'a b=3' is not a valid override: write --key value, --key=value or key=value with a "
            "dotted key such as optimizer.lr (see --help)");
  EXPECT_EQ(error_of({"--print-config=true"}), "'--print-config=true': --print-config takes no value");
  EXPECT_EQ(error_of({"--config", "a.yaml", "-c", "b.yaml"}),
            "--config given twice ('a.yaml' and 'b.yaml'): give one recipe; it can name others in "
            "its defaults: list");
}

TEST(Cli, UsageListsEveryOption) {
  std::string u = cli_usage("omnitune-train", "Fine-tunes a Gemma model.");
  EXPECT_EQ(u.find("usage: omnitune-train "), 0u);
  for (const char* opt : {"Fine-tunes a Gemma model.", "-c, --config PATH", "--KEY VALUE, --KEY=VALUE, KEY=VALUE",
                          "--print-config", "--help-config", "-h, --help"})
    EXPECT_NE(u.find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace omnitune
