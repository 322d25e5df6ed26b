// SentencePiece through the dlopen'ed shim, in a process that also runs LibTorch: the pairing that
// segfaults at load when sentencepiece is linked directly (DESIGN.md §7). A small Gemma-shaped BPE
// model is trained with spm_train during the test; the real Gemma 3 vocabulary fixture checks ids.
#include "tokenizer/sentencepiece.h"

#include <ATen/ATen.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "../test_util.h"

namespace fs = std::filesystem;
using omnitune::SentencePiece;

namespace {

const char* const kUserDefined[] = {"<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                                    "<image_soft_token>"};
constexpr int kTinyVocab = 400;

// Text the round-trip tests use: whitespace runs, tabs, digits, accents, CJK and emoji (the last
// ones are absent from the corpus, so they go through byte fallback).
const std::vector<std::string>& sample_texts() {
  static const std::vector<std::string> texts = {
      "The chest radiograph shows a small left pleural effusion.",
      "  two leading spaces, double  spaces and a trailing one ",
      "Größe: 5 µm — naïve café, déjà vu",
      "日本語のテキストと한국어",
      "emoji 🙂👍 and symbols ∑∫√",
      "tabs\tand\nnewlines\n\nand digits 1234567890",
      "<start_of_turn>user\nWhat is shown?<end_of_turn>\n<start_of_turn>model\nA fracture.",
  };
  return texts;
}

// A few hundred lines of varied English plus the Gemma chat and image markers.
std::string tiny_corpus() {
  const char* subjects[] = {"The patient", "A radiologist", "The scan", "Our team", "The model",
                            "Every student", "The nurse", "This image", "The old doctor",
                            "A quick fox"};
  const char* verbs[] = {"shows", "reviewed", "describes", "measured", "found", "explains",
                         "compares", "reports", "jumps over", "highlights"};
  const char* objects[] = {"a lesion in the left lung", "the lazy dog", "an enlarged heart",
                           "two fractures of the wrist", "normal brain tissue",
                           "the results of the test", "a shadow near the liver",
                           "the answer to the question", "swelling around the knee",
                           "a clear view of the spine"};
  const char* tails[] = {".", " today.", " again!", "?", ", as expected.", " (see figure 3).",
                         " in 2024.", "; nothing else."};
  std::ostringstream os;
  int n = 0;
  for (int s = 0; s < 10; ++s)
    for (int v = 0; v < 10; ++v) {
      os << subjects[s] << ' ' << verbs[(v + s) % 10] << ' ' << objects[(v * 3 + s) % 10]
         << tails[(s + v) % 8] << '\n';
      ++n;
    }
  for (int i = 0; i < 100; ++i) {
    os << "<start_of_turn>user\n<start_of_image><image_soft_token><image_soft_token> "
       << "What does image " << i << " show?<end_of_turn>\n"
       << "<start_of_turn>model\n" << objects[i % 10] << "<end_of_turn>\n";
    n += 3;
  }
  for (int i = 0; i < 60; ++i)
    os << "Question " << i << ": is the finding in case " << (1000 + 37 * i)
       << " benign or malignant? Answer: " << (i % 3 == 0 ? "benign" : "malignant") << ".\n";
  os << "She sells sea shells by the sea shore, and the shells she sells are sea shells.\n"
     << "How much wood would a woodchuck chuck if a woodchuck could chuck wood?\n"
     << "Pack my box with five dozen liquor jugs. Sphinx of black quartz, judge my vow.\n";
  return os.str();
}

// The trained model, built once per process in a temp dir that is removed at exit.
struct TrainedModel {
  std::string dir;
  std::string model;
  std::string error;  // non-empty when training failed
  ~TrainedModel() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// s as a POSIX extended regex matching itself literally (for death-test output patterns).
std::string regex_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

const TrainedModel& trained_model() {
  static TrainedModel m = [] {
    TrainedModel t;
    std::string tmpl = (fs::temp_directory_path() / "omnitune-spm-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      t.error = "mkdtemp failed for " + tmpl;
      return t;
    }
    t.dir = tmpl;
    std::ofstream(t.dir + "/corpus.txt") << tiny_corpus();
    std::string user_defined;
    for (const char* u : kUserDefined) {
      if (!user_defined.empty()) user_defined += ',';
      user_defined += u;
    }
    const std::string log = t.dir + "/spm_train.log";
    const std::string cmd =
        std::string(OMNITUNE_SPM_TRAIN) + " " + quoted("--input=" + t.dir + "/corpus.txt") + " " +
        quoted("--model_prefix=" + t.dir + "/tiny") + " --model_type=bpe" +
        " --vocab_size=" + std::to_string(kTinyVocab) +
        " --byte_fallback=true --character_coverage=1.0 --normalization_rule_name=identity"
        " --remove_extra_whitespaces=false --add_dummy_prefix=false --split_digits=true" +
        " " + quoted("--user_defined_symbols=" + user_defined) + " " +
        quoted("--control_symbols=<mask>") +
        " --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 " +
        quoted("--pad_piece=<pad>") + " " + quoted("--eos_piece=<eos>") + " " +
        quoted("--bos_piece=<bos>") + " " + quoted("--unk_piece=<unk>") +
        " --num_threads=1 > " + quoted(log) + " 2>&1";
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      std::ifstream in(log);
      std::stringstream tail;
      tail << in.rdbuf();
      t.error = "spm_train failed (status " + std::to_string(rc) + "; install the Debian package "
                "sentencepiece if it is missing):\n" + cmd + "\n" + tail.str();
      return t;
    }
    t.model = t.dir + "/tiny.model";
    return t;
  }();
  return m;
}

#define REQUIRE_TRAINED_MODEL(var)           \
  const TrainedModel& var = trained_model(); \
  ASSERT_TRUE(var.error.empty()) << var.error

// The shared fixtures live beside the clone; CI always has them, so their absence is a failure.
fs::path fixtures_dir() { return fs::path(omnitune::test_util::fixture_dir("")); }

}  // namespace

TEST(SentencePieceWithLibTorch, LibTorchAndTokenizerWorkInOneProcess) {
  REQUIRE_TRAINED_MODEL(m);
  const at::Tensor before = at::ones({2, 2}).sum();
  SentencePiece sp(m.model);
  const std::vector<int32_t> ids = sp.encode("The patient shows a lesion.");
  EXPECT_FALSE(ids.empty());
  // LibTorch still computes after the shim and sentencepiece were loaded.
  const at::Tensor t = at::arange(static_cast<int64_t>(ids.size()), at::kFloat).mul(2).sum();
  EXPECT_FLOAT_EQ(before.item<float>(), 4.0f);
  EXPECT_FLOAT_EQ(t.item<float>(), static_cast<float>(ids.size() * (ids.size() - 1)));
}

TEST(SentencePieceWithLibTorch, ShimKeepsSentencepieceOutOfTheGlobalNamespace) {
  const std::string path = SentencePiece::shim_path();
  EXPECT_EQ(fs::path(path).filename(), "libomnitune_spm.so");
  EXPECT_TRUE(fs::exists(path)) << path;
  // RTLD_LOCAL: neither the shim's C API nor sentencepiece's classes are visible process-wide,
  // and this binary does not link sentencepiece itself.
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "omnitune_spm_load"), nullptr);
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "_ZN13sentencepiece22SentencePieceProcessorC1Ev"), nullptr);
}

TEST(SentencePieceTrained, RoundTripsTextIncludingNonAsciiThroughByteFallback) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece sp(m.model);
  for (const std::string& text : sample_texts()) {
    const std::vector<int32_t> ids = sp.encode(text);
    EXPECT_EQ(sp.decode(ids), text);
    for (int32_t id : ids) EXPECT_NE(id, sp.unk_id()) << "unk in: " << text;
  }
  // Characters the corpus never had become UTF-8 byte pieces: 日 is E6 97 A5.
  const std::vector<std::string> pieces = sp.encode_pieces("日");
  EXPECT_EQ(pieces, (std::vector<std::string>{"<0xE6>", "<0x97>", "<0xA5>"}));
}

TEST(SentencePieceTrained, EncodePiecesAgreesWithIds) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece sp(m.model);
  for (const std::string& text : sample_texts()) {
    const std::vector<int32_t> ids = sp.encode(text);
    const std::vector<std::string> pieces = sp.encode_pieces(text);
    ASSERT_EQ(ids.size(), pieces.size()) << text;
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(sp.id_to_piece(ids[i]), pieces[i]);
      EXPECT_EQ(sp.piece_to_id(pieces[i]), ids[i]);
    }
  }
  EXPECT_TRUE(sp.encode("").empty());
  EXPECT_TRUE(sp.encode_pieces("").empty());
  EXPECT_EQ(sp.decode({}), "");
}

TEST(SentencePieceTrained, UserDefinedPiecesAreMatchedInText) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece sp(m.model);
  std::vector<int32_t> seen;
  for (const char* piece : kUserDefined) {
    const int32_t id = sp.piece_to_id(piece);
    EXPECT_NE(id, sp.unk_id()) << piece;
    EXPECT_FALSE(sp.is_control(id)) << piece;
    EXPECT_EQ(sp.encode(piece), std::vector<int32_t>{id}) << piece;
    for (int32_t other : seen) EXPECT_NE(id, other);
    seen.push_back(id);
  }
  const std::vector<int32_t> ids = sp.encode("<start_of_turn>user\nHi<end_of_turn>\n");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), sp.piece_to_id("<start_of_turn>"));
  EXPECT_EQ(sp.encode_pieces("<start_of_turn>user").front(), "<start_of_turn>");
  EXPECT_EQ(ids[ids.size() - 2], sp.piece_to_id("<end_of_turn>"));
}

TEST(SentencePieceTrained, ControlPiecesAreNotMatchedInText) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece sp(m.model);
  EXPECT_EQ(sp.pad_id(), 0);
  EXPECT_EQ(sp.eos_id(), 1);
  EXPECT_EQ(sp.bos_id(), 2);
  EXPECT_EQ(sp.unk_id(), 3);
  EXPECT_EQ(sp.id_to_piece(2), "<bos>");
  EXPECT_EQ(sp.piece_to_id("<bos>"), 2);
  EXPECT_TRUE(sp.is_control(sp.bos_id()));
  EXPECT_TRUE(sp.is_control(sp.eos_id()));
  EXPECT_TRUE(sp.is_control(sp.piece_to_id("<mask>")));
  for (const std::string literal : {"<bos>", "<eos>", "<mask>"}) {
    const std::vector<int32_t> ids = sp.encode(literal);
    EXPECT_GT(ids.size(), 1u) << literal;
    for (int32_t id : ids) EXPECT_FALSE(sp.is_control(id)) << literal;
    EXPECT_EQ(sp.decode(ids), literal);
  }
  // Decoding a control id renders nothing, as in Hugging Face's skip_special_tokens.
  EXPECT_EQ(sp.decode({sp.bos_id()}), "");
}

TEST(SentencePieceTrained, VocabularyMatchesTrainingAndRejectsOutOfRangeIds) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece sp(m.model);
  EXPECT_EQ(sp.vocab_size(), kTinyVocab);
  EXPECT_EQ(sp.model_path(), m.model);
  EXPECT_FALSE(sp.id_to_piece(kTinyVocab - 1).empty());
  EXPECT_EQ(sp.piece_to_id("no-such-piece-in-this-vocabulary"), sp.unk_id());
  EXPECT_THROW(sp.id_to_piece(kTinyVocab), omnitune::Error);
  EXPECT_THROW(sp.is_control(-1), omnitune::Error);
  try {
    sp.decode({5, kTinyVocab + 7});
    FAIL() << "decode accepted an out-of-range id";
  } catch (const omnitune::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(kTinyVocab + 7)), std::string::npos) << msg;
    EXPECT_NE(msg.find(m.model), std::string::npos) << msg;
  }
}

TEST(SentencePieceTrained, LargeTextRoundTripsWithoutFixedBuffers) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece sp(m.model);
  std::string big;
  while (big.size() < (1u << 18)) big += tiny_corpus() + "Größe 日本 🙂\n";
  const std::vector<int32_t> ids = sp.encode(big);
  EXPECT_GT(ids.size(), 50000u);
  EXPECT_EQ(sp.decode(ids), big);
  EXPECT_EQ(sp.encode_pieces(big).size(), ids.size());
}

TEST(SentencePieceTrained, ConcurrentEncodesAgreeWithSerialOnes) {
  REQUIRE_TRAINED_MODEL(m);
  const SentencePiece sp(m.model);
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& text : sample_texts()) expected.push_back(sp.encode(text));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep)
        for (size_t i = 0; i < expected.size(); ++i) {
          const std::vector<int32_t> ids = sp.encode(sample_texts()[i]);
          if (ids != expected[i] || sp.decode(ids) != sample_texts()[i]) ++mismatches[t];
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(SentencePieceTrained, MovedModelKeepsWorking) {
  REQUIRE_TRAINED_MODEL(m);
  SentencePiece a(m.model);
  const std::vector<int32_t> ids = a.encode("The scan shows a lesion.");
  SentencePiece b(std::move(a));
  EXPECT_EQ(b.encode("The scan shows a lesion."), ids);
  SentencePiece c(m.model);
  c = std::move(b);
  EXPECT_EQ(c.decode(ids), "The scan shows a lesion.");
  EXPECT_EQ(c.vocab_size(), kTinyVocab);
  EXPECT_EQ(c.model_path(), m.model);
}

TEST(SentencePieceErrors, MissingModelFileNamesThePath) {
  const std::string path =
      (fs::temp_directory_path() / "omnitune-no-such-dir" / "tokenizer.model").string();
  try {
    SentencePiece sp(path);
    FAIL() << "loaded a missing model";
  } catch (const omnitune::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(SentencePieceErrors, CorruptModelFileNamesThePath) {
  REQUIRE_TRAINED_MODEL(m);
  const std::string path = m.dir + "/corrupt.model";
  std::ofstream(path) << "this is not a sentencepiece model\n";
  try {
    SentencePiece sp(path);
    FAIL() << "loaded a corrupt model";
  } catch (const omnitune::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// The shim loads once per process, so the lookup is tested in fresh processes: the "threadsafe"
// death-test style re-executes this binary and runs only the statement below.
class SpmShimDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Loads the shim in this (child) process; exits 0 on success (printing the path), 3 on Error.
[[noreturn]] void load_shim_and_exit(const char* env_value) {
  setenv("OMNITUNE_SPM_SHIM", env_value, 1);
  try {
    const std::string path = SentencePiece::shim_path();
    std::fprintf(stderr, "loaded %s\n", path.c_str());
    std::fflush(stderr);
    _exit(0);
  } catch (const omnitune::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fflush(stderr);
    _exit(3);
  }
}

TEST_F(SpmShimDeathTest, BogusShimPathInEnvironmentIsAClearError) {
  EXPECT_EXIT(load_shim_and_exit("/nonexistent-omnitune/libomnitune_spm.so"),
              ::testing::ExitedWithCode(3),
              "cannot load the sentencepiece shim from "
              "OMNITUNE_SPM_SHIM=/nonexistent-omnitune/libomnitune_spm.so: no such file.*Fix");
}

TEST_F(SpmShimDeathTest, LibraryThatIsNotTheShimIsRejected) {
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&std::fopen), &info), 0);  // the C library
  const std::string libc = info.dli_fname;
  EXPECT_EXIT(load_shim_and_exit(libc.c_str()), ::testing::ExitedWithCode(3),
              "missing symbol omnitune_spm_abi_version");
}

TEST_F(SpmShimDeathTest, ShimPathInEnvironmentIsUsed) {
  const std::string path = OMNITUNE_BINARY_DIR "/lib/libomnitune_spm.so";
  ASSERT_TRUE(fs::exists(path)) << path;
  EXPECT_EXIT(load_shim_and_exit(path.c_str()), ::testing::ExitedWithCode(0),
              "loaded " + regex_literal(path));
}

TEST(SentencePieceGemma3, RealVocabularyHasTheHuggingFaceIds) {
  const fs::path dir = fixtures_dir() / "gemma3-tokenizer";
  ASSERT_TRUE(fs::is_directory(fixtures_dir()))
      << "fixtures not found at " << fixtures_dir() << " (tests/fixtures is part of the repository)";
  ASSERT_TRUE(fs::exists(dir / "tokenizer.model")) << dir / "tokenizer.model";
  SentencePiece sp((dir / "tokenizer.model").string());

  // 262,144 base pieces plus <image_soft_token> at 262144, as in Hugging Face's tokenizer.
  EXPECT_EQ(sp.vocab_size(), 262145);
  EXPECT_EQ(sp.pad_id(), 0);
  EXPECT_EQ(sp.eos_id(), 1);
  EXPECT_EQ(sp.bos_id(), 2);
  EXPECT_EQ(sp.unk_id(), 3);
  EXPECT_TRUE(sp.is_control(2));
  EXPECT_EQ(sp.encode("<start_of_turn>"), std::vector<int32_t>{105});
  EXPECT_EQ(sp.encode("<end_of_turn>"), std::vector<int32_t>{106});
  EXPECT_EQ(sp.encode("<start_of_image>"), std::vector<int32_t>{255999});
  EXPECT_EQ(sp.encode("<image_soft_token>"), std::vector<int32_t>{262144});
  // A rendered Gemma turn: the ids Hugging Face's tokenizer gives <start_of_turn> (105), "user"
  // (2364), "\n" (107), <end_of_turn> (106) and "model" (4368).
  const std::vector<int32_t> turn =
      sp.encode("<start_of_turn>user\nWhat is shown?<end_of_turn>\n<start_of_turn>model\n");
  ASSERT_GE(turn.size(), 8u);
  EXPECT_EQ(std::vector<int32_t>(turn.begin(), turn.begin() + 3),
            (std::vector<int32_t>{105, 2364, 107}));
  EXPECT_EQ(std::vector<int32_t>(turn.end() - 5, turn.end()),
            (std::vector<int32_t>{106, 107, 105, 4368, 107}));
  const std::vector<int32_t> literal_bos = sp.encode("<bos>");
  EXPECT_GT(literal_bos.size(), 1u);
  for (int32_t id : literal_bos) EXPECT_NE(id, 2);

  // Every added token of the Hugging Face tokenizer_config.json sits at its id.
  std::ifstream in(dir / "tokenizer_config.json");
  ASSERT_TRUE(in) << dir / "tokenizer_config.json";
  const nlohmann::json config = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& [id, token] : config.at("added_tokens_decoder").items()) {
    const std::string content = token.at("content").get<std::string>();
    EXPECT_EQ(sp.piece_to_id(content), std::stoi(id)) << content;
    EXPECT_EQ(sp.id_to_piece(std::stoi(id)), content) << id;
    ++checked;
  }
  EXPECT_GT(checked, 6000);

  for (const std::string& text : sample_texts()) EXPECT_EQ(sp.decode(sp.encode(text)), text);
}
