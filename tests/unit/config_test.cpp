// Config loading: defaults chains, overrides, env interpolation, schema validation and the exact
// user-facing messages for mistakes. Each test writes its YAML files into its own temp dir, so
// the messages' paths are known and nothing is left behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/config_schema.h"
#include "core/error.h"
#include "test_util.h"

namespace omnitune {
namespace {

namespace fs = std::filesystem;

using test_util::error_of;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("omnitune_config_test_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // A top-level key before core's logging.* (training registers its seed there too).
    schema_.add({"seed", ConfigType::Int, "1234", "one seed of the test schema (<N> stays text)", {}});
    register_core_config(schema_);
    schema_.add({"optimizer.lr", ConfigType::Float, "1e-4", "peak learning rate", {}});
    schema_.add({"optimizer.betas", ConfigType::FloatList, "[0.9, 0.999]", "Adam betas", {}});
    schema_.add({"scheduler.name", ConfigType::String, "cosine", "learning-rate schedule",
                 {"cosine", "linear", "constant"}});
    schema_.add({"train.max_steps", ConfigType::Int, "100", "optimizer steps to run", {}});
    schema_.add({"train.shuffle", ConfigType::Bool, "true", "shuffle the data every epoch", {}});
    schema_.add({"data.files", ConfigType::StringList, "[]", "shard files to read", {}});
    schema_.add({"data.root", ConfigType::String, "''", "directory the shard files are in", {}});
    schema_.add({"model.vision.image_size", ConfigType::Int, "896", "input image side in pixels", {}});
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` to dir_/rel and returns the path as Config reports it.
  std::string write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.lexically_normal().string();
  }

  Config load(const std::string& file, const std::vector<std::string>& overrides = {}) {
    return Config::load(schema_, file, overrides);
  }

  ConfigSchema schema_;
  fs::path dir_;
};

TEST_F(ConfigTest, NoFileAndNoOverridesGivesSchemaDefaults) {
  Config c = load("");
  EXPECT_EQ(c.get_int("seed"), 1234);
  EXPECT_EQ(c.get_string("logging.level"), "info");
  EXPECT_FALSE(c.get_bool("logging.rank_files"));
  EXPECT_EQ(c.get_string("logging.dir"), "logs");
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 1e-4);
  EXPECT_EQ(c.get_float_list("optimizer.betas"), (std::vector<double>{0.9, 0.999}));
  EXPECT_EQ(c.get_string("scheduler.name"), "cosine");
  EXPECT_EQ(c.get_int("train.max_steps"), 100);
  EXPECT_TRUE(c.get_bool("train.shuffle"));
  EXPECT_TRUE(c.get_string_list("data.files").empty());
  EXPECT_EQ(c.get_string("data.root"), "");
  EXPECT_EQ(c.get_int("model.vision.image_size"), 896);
  for (const auto& spec : schema_.keys()) EXPECT_EQ(c.source(spec.key), "default") << spec.key;
}

TEST_F(ConfigTest, FileValuesReplaceDefaultsAndOthersStayDefault) {
  std::string f = write("run.yaml",
                        "seed: 7\n"
                        "optimizer:\n"
                        "  lr: 2e-5\n"
                        "  betas: [0.8, 0.95]\n"
                        "train: {max_steps: -3, shuffle: false}\n"
                        "data:\n"
                        "  files: [a.h5, 'b c.h5']\n"
                        "model:\n"
                        "  vision:\n"
                        "    image_size: 224\n");
  Config c = load(f);
  EXPECT_EQ(c.get_int("seed"), 7);
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 2e-5);
  EXPECT_EQ(c.get_float_list("optimizer.betas"), (std::vector<double>{0.8, 0.95}));
  EXPECT_EQ(c.get_int("train.max_steps"), -3);
  EXPECT_FALSE(c.get_bool("train.shuffle"));
  EXPECT_EQ(c.get_string_list("data.files"), (std::vector<std::string>{"a.h5", "b c.h5"}));
  EXPECT_EQ(c.get_int("model.vision.image_size"), 224);
  EXPECT_EQ(c.get_string("scheduler.name"), "cosine");
  EXPECT_EQ(c.source("scheduler.name"), "default");
}

TEST_F(ConfigTest, FloatKeyAcceptsIntegersAndExponents) {
  EXPECT_DOUBLE_EQ(load("", {"optimizer.lr=3"}).get_float("optimizer.lr"), 3.0);
  EXPECT_DOUBLE_EQ(load("", {"optimizer.lr=1e-4"}).get_float("optimizer.lr"), 1e-4);
  EXPECT_DOUBLE_EQ(load("", {"optimizer.lr=.5"}).get_float("optimizer.lr"), 0.5);
  EXPECT_DOUBLE_EQ(load("", {"optimizer.lr=-2.5E+2"}).get_float("optimizer.lr"), -250.0);
  EXPECT_EQ(load("", {"optimizer.betas=[1, 2e-1]"}).get_float_list("optimizer.betas"),
            (std::vector<double>{1.0, 0.2}));
}

TEST_F(ConfigTest, DefaultsChainMergesMapsAndReplacesListsAcrossThreeLevels) {
  std::string root = write("base/root.yaml",
                           "optimizer:\n"
                           "  lr: 1e-3\n"
                           "  betas: [0.8, 0.9]\n"
                           "train:\n"
                           "  max_steps: 10\n"
                           "  shuffle: false\n"
                           "data:\n"
                           "  files: [a, b, c]\n"
                           "  root: /data\n");
  write("base/mid.yaml",
        "defaults: [root.yaml]\n"
        "optimizer:\n"
        "  betas: [0.5, 0.6]\n"
        "train:\n"
        "  max_steps: 20\n");
  std::string run = write("recipes/run.yaml",
                          "train:\n"
                          "  max_steps: 30\n"
                          "defaults:\n"
                          "  - ../base/mid.yaml\n"
                          "data:\n"
                          "  files: [z]\n");
  Config c = load(run);
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 1e-3);  // only in root: kept through the merge
  EXPECT_EQ(c.get_float_list("optimizer.betas"), (std::vector<double>{0.5, 0.6}));
  EXPECT_EQ(c.get_int("train.max_steps"), 30);  // the file itself wins over its defaults
  EXPECT_FALSE(c.get_bool("train.shuffle"));
  EXPECT_EQ(c.get_string_list("data.files"), (std::vector<std::string>{"z"}));  // not appended
  EXPECT_EQ(c.get_string("data.root"), "/data");
  EXPECT_EQ(c.source("optimizer.lr"), root + ":2");
  EXPECT_EQ(c.source("optimizer.betas"), (dir_ / "base/mid.yaml").string() + ":3");
  EXPECT_EQ(c.source("train.max_steps"), run + ":2");
}

TEST_F(ConfigTest, DefaultsListAppliesInOrderAndAcceptsASingleName) {
  write("a.yaml", "seed: 1\ntrain: {max_steps: 1}\n");
  write("b.yaml", "seed: 2\n");
  Config list = load(write("run.yaml", "defaults: [a.yaml, b.yaml]\n"));
  EXPECT_EQ(list.get_int("seed"), 2);
  EXPECT_EQ(list.get_int("train.max_steps"), 1);
  Config single = load(write("run2.yaml", "defaults: a.yaml\n"));
  EXPECT_EQ(single.get_int("seed"), 1);
}

TEST_F(ConfigTest, DefaultsCycleIsAnErrorNamingTheChain) {
  std::string a = write("a.yaml", "defaults: [b.yaml]\nseed: 1\n");
  std::string b = write("b.yaml", "seed: 2\ndefaults: [a.yaml]\n");
  EXPECT_EQ(error_of([&] { load(a); }),
            b + ":2: defaults cycle: " + a + " -> " + b + " -> " + a +
                "; remove one of these defaults entries");
  std::string self = write("self.yaml", "defaults: [self.yaml]\n");
  EXPECT_EQ(error_of([&] { load(self); }),
            self + ":1: defaults cycle: " + self + " -> " + self +
                "; remove one of these defaults entries");
}

TEST_F(ConfigTest, MissingFilesAreErrorsNamingThem) {
  std::string missing = (dir_ / "nope.yaml").string();
  EXPECT_EQ(error_of([&] { load(missing); }), "config file '" + missing + "' not found");

  std::string mid = write("sub/mid.yaml", "defaults: [gone.yaml]\n");
  std::string run = write("run.yaml", "seed: 3\ndefaults: [sub/mid.yaml]\n");
  std::string gone = (dir_ / "sub/gone.yaml").string();
  EXPECT_EQ(error_of([&] { load(run); }),
            mid + ":1: defaults file 'gone.yaml' not found: looked for " + gone +
                " (defaults paths are relative to the file that names them; chain: " + run +
                " -> " + mid + " -> " + gone + ")");
}

TEST_F(ConfigTest, InvalidYamlAndNonMapFilesAreErrors) {
  std::string bad = write("bad.yaml", "seed: 1\noptimizer: [1, 2\n");
  EXPECT_NE(error_of([&] { load(bad); }).find(bad + ":"), std::string::npos);
  EXPECT_NE(error_of([&] { load(bad); }).find("invalid YAML"), std::string::npos);
  std::string list = write("list.yaml", "- seed\n- 1\n");
  EXPECT_EQ(error_of([&] { load(list); }),
            list + ": a config file must be a map of keys (e.g. 'seed: 7'), not a list");
}

TEST_F(ConfigTest, EmptyFileAndEmptySectionSetNothing) {
  Config c = load(write("empty.yaml", ""));
  EXPECT_EQ(c.get_int("seed"), 1234);
  Config d = load(write("section.yaml", "optimizer:\nseed: 5\n"));
  EXPECT_DOUBLE_EQ(d.get_float("optimizer.lr"), 1e-4);
  EXPECT_EQ(d.get_int("seed"), 5);
}

TEST_F(ConfigTest, OverridesWinOverFileAndApplyInOrder) {
  std::string f = write("run.yaml",
                        "optimizer:\n"
                        "  lr: 1e-3\n"
                        "train:\n"
                        "  max_steps: 10\n");
  Config c = load(f, {"optimizer.lr=5e-5", "train.max_steps=7", "optimizer.lr=2e-5",
                      "data.files=[x, y]", "logging.level='debug'"});
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 2e-5);
  EXPECT_EQ(c.get_int("train.max_steps"), 7);
  EXPECT_EQ(c.get_string_list("data.files"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(c.get_string("logging.level"), "debug");
  EXPECT_EQ(c.source("optimizer.lr"), "command line");
}

TEST_F(ConfigTest, OverrideOfASectionTakesAMap) {
  Config c = load("", {"optimizer={lr: 3e-4, betas: [0.1, 0.2]}"});
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 3e-4);
  EXPECT_EQ(c.get_float_list("optimizer.betas"), (std::vector<double>{0.1, 0.2}));
  EXPECT_EQ(c.source("optimizer.betas"), "command line");
}

TEST_F(ConfigTest, OverrideWithoutEqualsOrKeyIsAnError) {
  EXPECT_EQ(error_of([&] { load("", {"seed"}); }),
            "command line override 'seed' has no value: write key=value, e.g. optimizer.lr=2e-5");
  EXPECT_EQ(error_of([&] { load("", {"=3"}); }),
            "command line override '=3' has no key: write key=value");
}

TEST_F(ConfigTest, UnknownKeyInFileNamesFileLineAndSuggestion) {
  std::string f = write("run.yaml",
                        "seed: 1\n"
                        "optimizer:\n"
                        "  learning_rate: 2e-5\n");
  EXPECT_EQ(error_of([&] { load(f); }),
            f + ":3: unknown key 'optimizer.learning_rate'; did you mean 'optimizer.lr'? "
                "(--help-config lists every key)");
  std::string g = write("sec.yaml", "seed: 1\n\noptimiser:\n  lr: 1\n");
  EXPECT_EQ(error_of([&] { load(g); }),
            g + ":3: unknown key 'optimiser'; did you mean 'optimizer'? (--help-config lists every key)");
}

TEST_F(ConfigTest, UnknownOverrideKeySuggestsClosestKey) {
  EXPECT_EQ(error_of([&] { load("", {"optimizer.learning_rate=1e-4"}); }),
            "command line override --optimizer.learning_rate: unknown key "
            "'optimizer.learning_rate'; did you mean 'optimizer.lr'? (--help-config lists every key)");
  EXPECT_EQ(error_of([&] { load("", {"trian.max_steps=5"}); }),
            "command line override --trian.max_steps: unknown key 'trian.max_steps'; did you mean "
            "'train.max_steps'? (--help-config lists every key)");
  EXPECT_EQ(error_of([&] { load("", {"zzzzqqq=1"}); }),
            "command line override --zzzzqqq: unknown key 'zzzzqqq' (--help-config lists every key)");
}

TEST_F(ConfigTest, ClosestKeyMatchesTyposAbbreviationsAndOtherSections) {
  EXPECT_EQ(schema_.closest_key("optimizer.learning_rate"), "optimizer.lr");
  EXPECT_EQ(schema_.closest_key("optimizer.betas2"), "optimizer.betas");
  EXPECT_EQ(schema_.closest_key("train.maxsteps"), "train.max_steps");
  EXPECT_EQ(schema_.closest_key("lr"), "optimizer.lr");  // same name in another section
  EXPECT_EQ(schema_.closest_key("training.max_steps"), "train.max_steps");
  EXPECT_EQ(schema_.closest_key("logging.rank_file"), "logging.rank_files");
  EXPECT_EQ(schema_.closest_key("model.vision.img_size"), "model.vision.image_size");
  EXPECT_EQ(schema_.closest_key("tokenizer.path"), "");
}

TEST_F(ConfigTest, WrongTypesNameKeyValueAndExpectedType) {
  std::string f = write("run.yaml",
                        "seed: 1\n"
                        "train:\n"
                        "  max_steps: 1.5\n");
  EXPECT_EQ(error_of([&] { load(f); }), f + ":3: 'train.max_steps' = '1.5' is not an integer");
  EXPECT_EQ(error_of([&] { load("", {"train.max_steps=abc"}); }),
            "command line override --train.max_steps: 'train.max_steps' = 'abc' is not an integer");
  EXPECT_EQ(error_of([&] { load("", {"seed=1e3"}); }),
            "command line override --seed: 'seed' = '1e3' is not an integer");
  std::string g = write("lr.yaml", "optimizer:\n  lr: fast\n");
  EXPECT_EQ(error_of([&] { load(g); }), g + ":2: 'optimizer.lr' = 'fast' is not a float");
  EXPECT_EQ(error_of([&] { load("", {"train.shuffle=maybe"}); }),
            "command line override --train.shuffle: 'train.shuffle' = 'maybe' is not a bool "
            "(true or false)");
  EXPECT_EQ(error_of([&] { load("", {"train.shuffle=yes"}); }),
            "command line override --train.shuffle: 'train.shuffle' = 'yes' is not a bool "
            "(true or false)");
  EXPECT_EQ(error_of([&] { load("", {"optimizer.betas=0.9"}); }),
            "command line override --optimizer.betas: 'optimizer.betas' = '0.9' is not a list of "
            "floats, e.g. [0.9, 0.999]");
  EXPECT_EQ(error_of([&] { load("", {"optimizer.betas=[0.9, fast]"}); }),
            "command line override --optimizer.betas: 'optimizer.betas' = '[0.9, fast]' is not a "
            "list of floats, e.g. [0.9, 0.999]");
  EXPECT_EQ(error_of([&] { load("", {"data.files=a.h5"}); }),
            "command line override --data.files: 'data.files' = 'a.h5' is not a list of strings, "
            "e.g. [a, b]");
  EXPECT_EQ(error_of([&] { load("", {"data.root=[a, b]"}); }),
            "command line override --data.root: 'data.root' = '[a, b]' is not a string");
  EXPECT_EQ(error_of([&] { load("", {"data.root="}); }),
            "command line override --data.root: 'data.root' has no value; expected a string "
            "(write '' for an empty string)");
}

TEST_F(ConfigTest, ValueOutsideChoicesListsTheChoices) {
  std::string f = write("run.yaml", "scheduler:\n  name: cosine_warmup\n");
  EXPECT_EQ(error_of([&] { load(f); }),
            f + ":2: 'scheduler.name' = 'cosine_warmup' is not one of: cosine, linear, constant");
  EXPECT_EQ(error_of([&] { load("", {"logging.level=verbose"}); }),
            "command line override --logging.level: 'logging.level' = 'verbose' is not one of: "
            "debug, info, warn, error");
}

TEST_F(ConfigTest, SectionGivenAValueAndValueGivenAMapAreErrors) {
  std::string f = write("run.yaml", "seed: 1\noptimizer: 3\n");
  EXPECT_EQ(error_of([&] { load(f); }),
            f + ":2: 'optimizer' is a section, not a value; set its keys instead (e.g. 'optimizer.lr')");
  EXPECT_EQ(error_of([&] { load("", {"model.vision=224"}); }),
            "command line override --model.vision: 'model.vision' is a section, not a value; set its "
            "keys instead (e.g. 'model.vision.image_size')");
  std::string g = write("map.yaml", "optimizer:\n  lr:\n    value: 1\n");
  EXPECT_EQ(error_of([&] { load(g); }),
            g + ":2: 'optimizer.lr' is a single value (float), not a section, but was given a map; "
                "write one value (quote text that contains ': ')");
  EXPECT_EQ(error_of([&] { load("", {"data.root=a: b"}); }),
            "command line override --data.root: 'data.root' is a single value (string), not a "
            "section, but was given a map; write one value (quote text that contains ': ')");
}

class EnvConfigTest : public ConfigTest {
 protected:
  void SetUp() override {
    ConfigTest::SetUp();
    setenv("OT_TEST_ROOT", "/scratch/me", 1);
    setenv("OT_TEST_LR", "3e-5", 1);
    setenv("OT_TEST_BETAS", "[0.7, 0.8]", 1);
    unsetenv("OT_TEST_UNSET");
  }
  void TearDown() override {
    unsetenv("OT_TEST_ROOT");
    unsetenv("OT_TEST_LR");
    unsetenv("OT_TEST_BETAS");
    ConfigTest::TearDown();
  }
};

TEST_F(EnvConfigTest, FileValuesReadTheEnvironmentBeforeTypeConversion) {
  std::string f = write("run.yaml",
                        "optimizer:\n"
                        "  lr: ${env:OT_TEST_LR}\n"
                        "  betas: ${env:OT_TEST_BETAS}\n"
                        "train:\n"
                        "  max_steps: ${env:OT_TEST_UNSET,250}\n"
                        "data:\n"
                        "  root: ${env:OT_TEST_ROOT}/runs/${env:OT_TEST_UNSET,x}\n"
                        "  files: ['${env:OT_TEST_ROOT}/a.h5', b.h5]\n");
  Config c = load(f);
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 3e-5);
  EXPECT_EQ(c.get_float_list("optimizer.betas"), (std::vector<double>{0.7, 0.8}));
  EXPECT_EQ(c.get_int("train.max_steps"), 250);
  EXPECT_EQ(c.get_string("data.root"), "/scratch/me/runs/x");
  EXPECT_EQ(c.get_string_list("data.files"),
            (std::vector<std::string>{"/scratch/me/a.h5", "b.h5"}));
}

TEST_F(EnvConfigTest, OverridesReadTheEnvironmentAndDefaultsApplyWhenUnset) {
  Config c = load("", {"optimizer.lr=${env:OT_TEST_UNSET,1e-4}", "data.root=${env:OT_TEST_ROOT}"});
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 1e-4);
  EXPECT_EQ(c.get_string("data.root"), "/scratch/me");
  setenv("OT_TEST_UNSET", "", 1);  // set but empty still counts as set
  EXPECT_EQ(load("", {"data.root=${env:OT_TEST_UNSET,x}"}).get_string("data.root"), "");
  unsetenv("OT_TEST_UNSET");
}

TEST_F(EnvConfigTest, UnsetVariableWithoutDefaultNamesKeyPlaceAndVariable) {
  std::string f = write("run.yaml", "seed: 1\ndata:\n  root: ${env:OT_TEST_UNSET}/runs\n");
  EXPECT_EQ(error_of([&] { load(f); }),
            f + ":3: 'data.root' uses ${env:OT_TEST_UNSET} but OT_TEST_UNSET is not set; export it "
                "or give a default: ${env:OT_TEST_UNSET,value}");
  EXPECT_EQ(error_of([&] { load("", {"data.root=${env:OT_TEST_UNSET}"}); }),
            "command line override --data.root: 'data.root' uses ${env:OT_TEST_UNSET} but "
            "OT_TEST_UNSET is not set; export it or give a default: ${env:OT_TEST_UNSET,value}");
}

TEST_F(EnvConfigTest, EnvValueIsTypeChecked) {
  setenv("OT_TEST_LR", "fast", 1);
  EXPECT_EQ(error_of([&] { load("", {"optimizer.lr=${env:OT_TEST_LR}"}); }),
            "command line override --optimizer.lr: 'optimizer.lr' = 'fast' is not a float");
}

TEST_F(EnvConfigTest, OverriddenValueIsNotInterpolated) {
  // Only the winning value is resolved, so a base file may name a variable the run replaces.
  std::string f = write("run.yaml", "data:\n  root: ${env:OT_TEST_UNSET}\n");
  EXPECT_EQ(load(f, {"data.root=/x"}).get_string("data.root"), "/x");
}

TEST_F(ConfigTest, ToYamlLoadsBackToEqualValues) {
  std::string f = write("run.yaml",
                        "seed: -42\n"
                        "optimizer: {lr: 0.1, betas: [0.3333333333333333, 1e-300, 2]}\n"
                        "train: {max_steps: 9007199254740993, shuffle: false}\n"
                        "data:\n"
                        "  files: ['null', '', 'true', '123', 'a: b', 'x # y', '[q]', ' pad ', \"l1\\nl2\"]\n"
                        "  root: 'null'\n"
                        "logging: {dir: '~', level: warn}\n");
  Config a = load(f);
  std::string yaml = a.to_yaml();
  Config b = load(write("resolved.yaml", yaml));
  EXPECT_EQ(a.to_json(), b.to_json()) << yaml;
  for (const auto& spec : schema_.keys()) EXPECT_NE(b.source(spec.key), "default") << spec.key;
  EXPECT_EQ(b.get_string("data.root"), "null");
  EXPECT_EQ(b.get_string("logging.dir"), "~");
  EXPECT_EQ(b.get_int("train.max_steps"), 9007199254740993LL);
  EXPECT_EQ(b.get_float_list("optimizer.betas"), (std::vector<double>{1.0 / 3, 1e-300, 2.0}));
  EXPECT_EQ(b.get_string_list("data.files"),
            (std::vector<std::string>{"null", "", "true", "123", "a: b", "x # y", "[q]", " pad ",
                                      "l1\nl2"}));
  // Nested in schema order, sections where their first key appears.
  EXPECT_EQ(yaml.find("seed: -42\nlogging:\n  level: warn\n"), 0u) << yaml;
  EXPECT_NE(yaml.find("model:\n  vision:\n    image_size: 896\n"), std::string::npos) << yaml;
}

TEST_F(ConfigTest, ToYamlSpellsFloatsAsFloats) {
  std::string yaml = load("", {"optimizer.lr=600", "optimizer.betas=[2e-5, 0.1]"}).to_yaml();
  EXPECT_NE(yaml.find("  lr: 600.0\n  betas: [2e-05, 0.1]\n"), std::string::npos) << yaml;
}

TEST_F(ConfigTest, ToJsonIsNested) {
  Config c = load("", {"optimizer.lr=0.5", "data.files=[a]"});
  nlohmann::json j = c.to_json();
  EXPECT_EQ(j["seed"], 1234);
  EXPECT_EQ(j["optimizer"]["lr"], 0.5);
  EXPECT_EQ(j["data"]["files"], nlohmann::json::array({"a"}));
  EXPECT_EQ(j["model"]["vision"]["image_size"], 896);
  EXPECT_EQ(j["train"]["shuffle"], true);
}

TEST_F(ConfigTest, SourceNamesFileLineCommandLineOrDefault) {
  std::string base = write("base.yaml", "seed: 1\ntrain:\n  shuffle: false\n");
  std::string f = write("run.yaml",
                        "defaults: [base.yaml]\n"
                        "\n"
                        "optimizer:\n"
                        "  # a comment line\n"
                        "  lr: 1e-3\n");
  Config c = load(f, {"seed=9"});
  EXPECT_EQ(c.source("optimizer.lr"), f + ":5");
  EXPECT_EQ(c.source("train.shuffle"), base + ":3");
  EXPECT_EQ(c.source("seed"), "command line");
  EXPECT_EQ(c.source("optimizer.betas"), "default");
}

TEST_F(ConfigTest, GettersOnUnknownKeyOrWrongTypeAreInternalErrors) {
  Config c = load("");
  EXPECT_THROW(c.get_int("no.such.key"), InternalError);
  EXPECT_THROW(c.get_int("optimizer.lr"), InternalError);
  EXPECT_THROW(c.get_float("seed"), InternalError);
  EXPECT_THROW(c.get_string("train.shuffle"), InternalError);
  EXPECT_THROW(c.get_bool("data.root"), InternalError);
  EXPECT_THROW(c.get_string_list("optimizer.betas"), InternalError);
  EXPECT_THROW(c.get_float_list("data.files"), InternalError);
  EXPECT_THROW(c.source("no.such.key"), InternalError);
}

TEST_F(ConfigTest, SchemaRejectsBadDeclarations) {
  ConfigSchema& s = schema_;
  EXPECT_THROW(s.add({"seed", ConfigType::Int, "1", "again", {}}), InternalError);
  EXPECT_THROW(s.add({"x.steps", ConfigType::Int, "1.5", "bad default", {}}), InternalError);
  EXPECT_THROW(s.add({"x.on", ConfigType::Bool, "maybe", "bad default", {}}), InternalError);
  EXPECT_THROW(s.add({"x.mode", ConfigType::String, "c", "not a choice", {"a", "b"}}), InternalError);
  EXPECT_THROW(s.add({"x.n", ConfigType::Int, "1", "choices on an int", {"1"}}), InternalError);
  EXPECT_THROW(s.add({"optimizer", ConfigType::Int, "1", "a section already", {}}), InternalError);
  EXPECT_THROW(s.add({"seed.sub", ConfigType::Int, "1", "under a key", {}}), InternalError);
  EXPECT_THROW(s.add({"a..b", ConfigType::Int, "1", "empty segment", {}}), InternalError);
  EXPECT_THROW(s.add({"defaults", ConfigType::String, "''", "reserved", {}}), InternalError);
  EXPECT_EQ(s.find("x.steps"), nullptr);
  EXPECT_TRUE(s.is_section("model.vision"));
  EXPECT_TRUE(s.is_section("model"));
  EXPECT_FALSE(s.is_section("model.vision.image_size"));
  EXPECT_FALSE(s.is_section("mod"));
}

TEST_F(ConfigTest, HelpTableListsEveryKeyWithTypeDefaultAndDoc) {
  std::string table = schema_.help_table();
  for (const auto& spec : schema_.keys()) {
    EXPECT_NE(table.find("| `" + spec.key + "` |"), std::string::npos) << spec.key;
    std::string doc;  // as Markdown: '<' escaped so "<N>" is not read as an HTML tag
    for (char ch : spec.doc) doc += ch == '<' ? std::string("\\<") : std::string(1, ch);
    EXPECT_NE(table.find(doc), std::string::npos) << spec.key;
  }
  EXPECT_NE(table.find("appends its log to \\<logging.dir>/rank\\<N>.log |"), std::string::npos);
  EXPECT_NE(table.find("| `seed` | int | `1234` | one seed of the test schema (\\<N> stays text) |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| `scheduler.name` | string: cosine\\|linear\\|constant | `cosine` |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| `optimizer.betas` | list[float] | `[0.9, 0.999]` | Adam betas |"),
            std::string::npos)
      << table;
  // One table per top-level section, in schema order.
  size_t top = table.find("\n## top level\n"), logging = table.find("\n## logging\n"),
         model = table.find("\n## model\n");
  EXPECT_LT(top, logging);
  EXPECT_LT(logging, model);
  EXPECT_NE(model, std::string::npos);
  EXPECT_EQ(table.find("\n## model.vision"), std::string::npos);
  // The top-level table comes first even when its keys are registered after a section's.
  ConfigSchema late;
  register_core_config(late);
  late.add({"seed", ConfigType::Int, "1", "a late top-level key", {}});
  const std::string t2 = late.help_table();
  EXPECT_LT(t2.find("\n## top level\n"), t2.find("\n## logging\n")) << t2;
}

}  // namespace
}  // namespace omnitune
