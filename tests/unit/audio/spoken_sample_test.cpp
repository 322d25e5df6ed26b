// omnitune-make-sample's spoken questions (SampleOptions::spoken, Debian's espeak-ng): every row
// pairs its MedPix row's image with a clip of that row's question that decodes to 0.3-5 s of
// speech, and answers with that row's answer; one clip per question text; validation images are
// unseen in training; the same options give the same bytes and leave the other files as they are
// without the option; a missing espeak-ng names the package; question text never meets a shell;
// the rows preprocess for Gemma 3n into samples with one image and one clip each, whose stored
// features are the extractor's.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/config.h"
#include "core/config_schema.h"
#include "core/error.h"
#include "core/sha256.h"
#include "data/shard_format.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"
#include "pipeline/preprocess.h"
#include "sample/sample_dataset.h"
#include "sample/speech_synth.h"
#include "tokenizer/chat_template.h"

namespace omnitune {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kAudioTokens = 10, kImageTokens = 4;

fs::path test_root() { return fs::path(OMNITUNE_BINARY_DIR) / "test-tmp" / "spoken-sample"; }

std::vector<json> read_jsonl(const fs::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every regular file under `dir` (relative path -> bytes), without spm_train's log.
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() != ".log")
      files[fs::relative(e.path(), dir).string()] = read_file(e.path());
  return files;
}

// The spoken sample set, written once: the default 48 train + 16 validation rows.
const fs::path& spoken_set() {
  static const fs::path dir = [] {
    const fs::path d = test_root() / "a";
    fs::remove_all(d);
    SampleOptions opt;
    opt.out_dir = d.string();
    opt.spoken = true;
    const SampleSummary s = make_sample_dataset(opt);
    EXPECT_EQ(s.spoken_train_rows, 36);     // shape, place and colour of each of the 12 train images
    EXPECT_EQ(s.spoken_validation_rows, 11);  // the same of 4 validation images, less the leak row
    EXPECT_EQ(s.spoken_clips, 3);           // one per distinct question
    return d;
  }();
  return dir;
}

TEST(SpokenSample, RowsPairTheImageRowsImageWithItsSpokenQuestionAndAnswer) {
  const fs::path dir = spoken_set();
  std::map<std::string, std::string> clip_of;  // question text -> clip file
  std::set<std::string> train_images;
  for (const char* split : {"train", "validation"}) {
    const std::vector<json> medpix = read_jsonl(dir / (std::string(split) + ".jsonl"));
    const std::vector<json> rows = read_jsonl(dir / ("spoken_" + std::string(split) + ".jsonl"));
    ASSERT_EQ(rows.size(), split == std::string("train") ? 36u : 11u) << split;
    for (const json& row : rows) {
      // "spoken-<split>-<r>": line r of the split's MedPix rows.
      const std::string id = row["id"], prefix = "spoken-" + std::string(split) + "-";
      ASSERT_EQ(id.rfind(prefix, 0), 0u) << id;
      const size_t r = std::stoul(id.substr(prefix.size()));
      ASSERT_LT(r, medpix.size()) << id;
      const json& src = medpix[r];
      EXPECT_EQ(src["mode"], "alignment") << id;

      const json& user = row["messages"][0];
      const json& assistant = row["messages"][1];
      EXPECT_EQ(user["role"], "user");
      ASSERT_EQ(user["content"].size(), 2u) << id;  // the image and the spoken question, no text
      EXPECT_EQ(user["content"][0]["type"], "image") << id;
      EXPECT_EQ(user["content"][0]["image"], "images/" + src["image_id"].get<std::string>()) << id;
      EXPECT_TRUE(fs::is_regular_file(dir / user["content"][0]["image"].get<std::string>())) << id;
      EXPECT_EQ(user["content"][1]["type"], "audio") << id;
      EXPECT_EQ(assistant["role"], "assistant");
      EXPECT_EQ(assistant["content"][0]["text"], src["answer"]) << id << ": answer differs from the image row's";
      EXPECT_EQ(row["case_id"], src["case_id"]) << id;

      // One clip per question text; same text, same clip; different texts, different clips.
      const std::string clip = user["content"][1]["audio"];
      auto [it, fresh] = clip_of.try_emplace(src["question"].get<std::string>(), clip);
      EXPECT_EQ(it->second, clip) << id << ": the question \"" << it->first << "\" has two clips";
      if (split == std::string("train")) {
        train_images.insert(src["image_id"].get<std::string>());
      } else {
        EXPECT_EQ(train_images.count(src["image_id"].get<std::string>()), 0u) << id << ": validation image seen in training";
      }
    }
  }
  std::set<std::string> clips;
  for (const auto& [q, clip] : clip_of) clips.insert(clip);
  EXPECT_EQ(clips.size(), clip_of.size()) << "two question texts share a clip";
  EXPECT_EQ(clip_of.size(), 3u);

  // Each clip is speech: 0.3-5 s, well above silence, loud somewhere.
  for (const std::string& clip : clips) {
    const AudioClip a = decode_audio_file((dir / clip).string());
    EXPECT_EQ(a.sample_rate, 22050) << clip;
    EXPECT_GE(a.seconds(), 0.3) << clip;
    EXPECT_LT(a.seconds(), 5.0) << clip;
    double sum = 0, peak = 0;
    for (float v : a.samples) {
      sum += static_cast<double>(v) * v;
      peak = std::max(peak, static_cast<double>(std::abs(v)));
    }
    EXPECT_GT(std::sqrt(sum / a.samples.size()), 0.02) << clip;
    EXPECT_GT(peak, 0.2) << clip;
  }

  const json manifest = json::parse(read_file(dir / "manifest.json"));
  EXPECT_EQ(manifest["spoken_clips"], 3);
  EXPECT_EQ(manifest["spoken_train_rows"], 36);
  EXPECT_EQ(manifest["spoken_validation_rows"], 11);
  for (const std::string& clip : clips)
    EXPECT_EQ(manifest["files"][clip], sha256_file((dir / clip).string())) << clip;
  EXPECT_NE(read_file(dir / "README.md").find("spoken_train.jsonl"), std::string::npos);
}

TEST(SpokenSample, SameOptionsGiveSameBytesAndOtherFilesMatchTheDefaultSet) {
  const fs::path a = spoken_set(), b = test_root() / "b", plain = test_root() / "plain";
  fs::remove_all(b);
  fs::remove_all(plain);
  SampleOptions opt;
  opt.out_dir = b.string();
  opt.spoken = true;
  make_sample_dataset(opt);
  opt.out_dir = plain.string();
  opt.spoken = false;
  make_sample_dataset(opt);
  const auto ta = tree(a), tb = tree(b), tp = tree(plain);
  EXPECT_EQ(ta.size(), tb.size());
  for (const auto& [name, bytes] : ta) {
    ASSERT_TRUE(tb.count(name)) << name;
    EXPECT_TRUE(tb.at(name) == bytes) << name << " differs between two runs";
  }
  // Without the option: the same files less the spoken ones; all but manifest and README equal.
  int spoken_files = 0;
  for (const auto& [name, bytes] : ta) {
    if (name.rfind("spoken", 0) == 0) {
      ++spoken_files;
      EXPECT_EQ(tp.count(name), 0u) << name;
      continue;
    }
    ASSERT_TRUE(tp.count(name)) << name;
    if (name != "manifest.json" && name != "README.md") {
      EXPECT_TRUE(tp.at(name) == bytes) << name << " changed by --spoken";
    }
  }
  EXPECT_EQ(spoken_files, 5);  // 3 clips + 2 JSONL files
  EXPECT_EQ(tp.size() + spoken_files, ta.size());
}

TEST(SpokenSample, MissingEspeakNgIsAnErrorNamingThePackage) {
  const fs::path empty_bin = test_root() / "empty-bin", out = test_root() / "no-espeak";
  fs::create_directories(empty_bin);
  fs::remove_all(out);
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", empty_bin.c_str(), 1);  // after MPI_Init: only make_sample_dataset sees it
  SampleOptions opt;
  opt.out_dir = out.string();
  opt.spoken = true;
  std::string message;
  try {
    make_sample_dataset(opt);
  } catch (const Error& e) {
    message = e.what();
  }
  setenv("PATH", path.c_str(), 1);
  EXPECT_NE(message.find("apt-get install espeak-ng"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(out)) << "nothing is written when espeak-ng is missing";
}

// The text reaches espeak-ng as one argument (quotes, a leading dash, shell syntax are spoken, not
// run); a clip espeak-ng could not write is an error although espeak-ng exits 0.
TEST(SpokenSample, SynthesisTakesAnyTextVerbatimAndChecksTheFileWritten) {
  const fs::path dir = test_root() / "synth";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path marker = fs::current_path() / "sm";  // a shell would create it here (short: < 5 s spoken)
  fs::remove(marker);
  const std::string text = "-v \"Quoted\"; $(touch sm) `touch sm`";
  const SpeechClip c = synthesise_speech(text, (dir / "odd.wav").string());
  EXPECT_EQ(c.sample_rate, 22050);
  EXPECT_GT(c.seconds, 0.3);
  EXPECT_GT(c.rms, 0.02);
  EXPECT_FALSE(fs::exists(marker)) << "the text went through a shell";
  std::string message;
  try {
    synthesise_speech("What colour is the finding?", "/proc/no-such-dir/clip.wav");
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("/proc/no-such-dir/clip.wav"), std::string::npos) << message;
}

PreprocessSummary run_preprocess(const fs::path& model, const fs::path& tokenizer, const fs::path& input,
                                 const fs::path& out, const std::string& split) {
  ConfigSchema schema;
  register_core_config(schema);
  register_preprocess_config(schema);
  Config cfg = Config::load(schema, "",
                            {"preprocess.model_dir=" + model.string(), "preprocess.tokenizer=" + tokenizer.string(),
                             "preprocess.input=" + input.string(), "preprocess.output_dir=" + out.string(),
                             "preprocess.split=" + split, "preprocess.samples_per_shard=8", "preprocess.threads=1"});
  return preprocess_run(preprocess_settings_from(cfg), cfg, MPI_COMM_WORLD);
}

// The features the Gemma 3n extractor gives for a clip file: decode, resample to 16 kHz, log-mel.
AudioFeatures expected_features(const fs::path& clip_file) {
  AudioClip clip = decode_audio_file(clip_file.string());
  if (clip.sample_rate != 16000) clip = resample(clip, 16000);
  return gemma3n_log_mel(clip, AudioFeatureConfig{});
}

TEST(SpokenSample, PreprocessesForGemma3nWithOneImageAndOneClipPerSample) {
  const fs::path dir = spoken_set(), model = test_root() / "gemma3n", out = test_root() / "shards";
  fs::remove_all(model);
  fs::remove_all(out);
  fs::create_directories(model);
  std::ofstream(model / "preprocessor_config.json")
      << R"({"size": {"height": 32, "width": 32}, "resample": 2, "do_normalize": false, "rescale_factor": 0.00392156862745098,
            "feature_size": 128, "sampling_rate": 16000, "frame_length": 512, "hop_length": 160, "fft_length": 1024,
            "preemphasis": 0.97, "min_frequency": 125.0, "max_frequency": 7600.0, "mel_floor": 1e-05,
            "max_length": 480000, "pad_to_multiple_of": 128})";
  std::ofstream(model / "config.json")
      << json{{"model_type", "gemma3n"}, {"vision_config", json::object()}, {"audio_config", json::object()},
              {"vision_soft_tokens_per_image", kImageTokens}, {"audio_soft_tokens_per_image", kAudioTokens}}
             .dump();
  const fs::path tokenizer = dir / "tokenizer" / "tokenizer.model";

  for (const std::string split : {"train", "validation"}) {
    const std::vector<json> rows = read_jsonl(dir / ("spoken_" + split + ".jsonl"));
    const std::vector<json> medpix = read_jsonl(dir / (split + ".jsonl"));
    const PreprocessSummary sum = run_preprocess(model, tokenizer, dir / ("spoken_" + split + ".jsonl"), out, split);
    EXPECT_EQ(sum.samples, static_cast<int64_t>(rows.size())) << split;
    EXPECT_EQ(sum.rejected, 0) << split;
    EXPECT_EQ(sum.audio, 3) << split;  // each question's clip stored once
    const json m = json::parse(read_file(out / split / "manifest.json"));
    EXPECT_EQ(m["model_family"], "gemma3n");
    EXPECT_TRUE(m["shared_images_with_other_splits"].empty()) << split << ": " << m["shared_images_with_other_splits"];

    std::map<std::string, AudioFeatures> want;  // clip file -> the extractor's features
    int64_t checked = 0;
    for (const json& shard : m["shards"]) {
      auto reader = ShardReader::open((out / split / shard["file"].get<std::string>()).string());
      for (int64_t i = 0; i < reader->num_samples(); ++i, ++checked) {
        const ShardSample smp = reader->sample(i);
        const json& row = rows.at(static_cast<size_t>(checked));
        ASSERT_EQ(smp.id, row["id"]);
        ASSERT_EQ(smp.media.size(), 2u) << smp.id;
        ASSERT_EQ(smp.media[0].kind, MediaKind::Image) << smp.id;
        ASSERT_EQ(smp.media[1].kind, MediaKind::Audio) << smp.id;
        EXPECT_EQ(smp.mode, "alignment") << smp.id;
        int image_tokens = 0, audio_tokens = 0;
        for (uint8_t t : smp.token_type) {
          image_tokens += t == kTokenImage;
          audio_tokens += t == kTokenAudio;
        }
        EXPECT_EQ(image_tokens, kImageTokens) << smp.id;
        EXPECT_EQ(audio_tokens, kAudioTokens) << smp.id;

        // The stored image is the row's image file; the stored features are its clip's.
        const std::string image = row["messages"][0]["content"][0]["image"], clip = row["messages"][0]["content"][1]["audio"];
        auto open = [&](int64_t shard_index) {
          char name[32];
          std::snprintf(name, sizeof name, "shard-%05lld.h5", static_cast<long long>(shard_index));
          return ShardReader::open((out / split / name).string());
        };
        const ShardImage img = open(smp.media[0].shard)->image(smp.media[0].slot);
        EXPECT_EQ(img.sha256, sha256_file((dir / image).string())) << smp.id;
        EXPECT_EQ(img.width, 32);
        EXPECT_EQ(img.height, 32);
        const ShardAudio au = open(smp.media[1].shard)->audio(smp.media[1].slot);
        if (!want.count(clip)) want[clip] = expected_features(dir / clip);
        EXPECT_EQ(au.bins, 128) << smp.id;
        EXPECT_EQ(au.frames, want[clip].frames) << smp.id;
        EXPECT_GT(au.frames, 50) << smp.id;  // over 0.5 s of 10 ms frames
        EXPECT_TRUE(au.features == want[clip].values) << smp.id << ": stored features differ from gemma3n_log_mel's";
      }
    }
    EXPECT_EQ(checked, static_cast<int64_t>(rows.size())) << split;
    EXPECT_EQ(want.size(), 3u) << split;
  }
}

}  // namespace
}  // namespace omnitune
