// Audio through omnitune-preprocess's pipeline (Gemma 3n), under MPI (1 and 2 ranks): HF
// message-list rows and flat rows with an audio column (JSONL, Parquet) become samples whose media refs include
// audio (kind 1); each distinct clip is decoded once and stored in the shard of its first use; the
// stored frames equal what decode + resample + gemma3n_log_mel give for the real fixture clips; the
// chat template puts audio_soft_tokens_per_image audio tokens (type 3) per clip; undecodable
// clips and audio for a Gemma 3 model are rejects with a reason; a resume reads the kept shards'
// work records and decodes only the lost shard's media.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/config.h"
#include "core/config_schema.h"
#include "core/sha256.h"
#include "data/shard_format.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"
#include "pipeline/preprocess.h"
#include "sample/sample_dataset.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"

namespace omnitune {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test_util::fixture;

constexpr int kAudioTokens = 10, kImageTokens = 4;

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}
bool is_root() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r == 0;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A user turn with media items and a question, answered by the assistant.
json conversation(const std::vector<std::pair<std::string, std::string>>& media, const std::string& q,
                  const std::string& a) {
  json content = json::array();
  for (const auto& [type, file] : media) content.push_back({{"type", type}, {type, file}});
  content.push_back({{"type", "text"}, {"text", q}});
  return {{"messages", {{{"role", "user"}, {"content", content}},
                        {{"role", "assistant"}, {"content", {{{"type", "text"}, {"text", a}}}}}}}};
}

// Test data, written once by rank 0: clips (real fixtures + bad ones), an image, a Gemma 3n and a
// Gemma 3 model directory sharing a tokenizer with the Gemma special pieces, and the datasets.
struct AudioSet {
  fs::path root, data, gemma3n, gemma3, tokenizer;
};

const AudioSet& audio_set() {
  static AudioSet set = [] {
    AudioSet s;
    s.root = fs::path(OMNITUNE_BINARY_DIR) / "test-tmp" / ("preprocess-audio-np" + std::to_string(world_size()));
    s.data = s.root / "data";
    s.gemma3n = s.root / "gemma3n";
    s.gemma3 = s.root / "gemma3";
    s.tokenizer = s.root / "sample" / "tokenizer" / "tokenizer.model";
    if (is_root()) {
      fs::remove_all(s.root);
      fs::create_directories(s.data);
      SampleOptions opt;
      opt.out_dir = (s.root / "sample").string();
      make_sample_dataset(opt);
      fs::copy_file(fixture("audio", "jfk-16k-mono.wav"), s.data / "jfk.wav");
      fs::copy_file(fixture("audio", "jfk-44k1-stereo.flac"), s.data / "jfk.flac");
      fs::copy_file(fixture("images", "cxr-gray-512.png"), s.data / "xray.png");
      auto flac = test_util::read_bytes(fixture("audio", "jfk-44k1-stereo.flac"));
      flac.resize(flac.size() / 2);  // a stream that ends early
      test_util::write_bytes((s.data / "cut.flac").string(), flac);
      write_text(s.data / "junk.wav", std::string(400, 'x'));
      write_text(s.data / "empty.wav", "");
      const std::string processor =
          R"({"size": {"height": 32, "width": 32}, "resample": 2, "do_normalize": false, "rescale_factor": 0.00392156862745098,
              "feature_size": 128, "sampling_rate": 16000, "frame_length": 512, "hop_length": 160, "fft_length": 1024,
              "preemphasis": 0.97, "min_frequency": 125.0, "max_frequency": 7600.0, "mel_floor": 1e-05,
              "max_length": 480000, "pad_to_multiple_of": 128, "per_bin_mean": null, "per_bin_stddev": null,
              "dither": 0.0, "input_scale_factor": 1.0})";
      for (const fs::path& dir : {s.gemma3n, s.gemma3}) {
        fs::create_directories(dir);
        write_text(dir / "preprocessor_config.json", processor);
      }
      write_text(s.gemma3n / "config.json",
                 json{{"model_type", "gemma3n"}, {"vision_config", json::object()}, {"audio_config", json::object()},
                      {"vision_soft_tokens_per_image", kImageTokens}, {"audio_soft_tokens_per_image", kAudioTokens}}
                     .dump());
      write_text(s.gemma3 / "config.json",
                 json{{"model_type", "gemma3"}, {"vision_config", json::object()}, {"mm_tokens_per_image", kImageTokens}}
                     .dump());
      // Messages: rows 0 and 1 (shard 0) introduce the WAV and the FLAC; rows 2 and 6 reuse the WAV
      // from later shards; rows 3-5 hold bad clips; row 7 has only an image.
      std::string rows;
      rows += conversation({{"audio", "jfk.wav"}}, "What is said?", "Ask not.").dump() + "\n";
      rows += conversation({{"image", "xray.png"}, {"audio", "jfk.flac"}}, "Describe both.", "An X-ray; a speech.").dump() + "\n";
      rows += conversation({{"audio", "jfk.wav"}}, "Again?", "Ask not, again.").dump() + "\n";
      rows += conversation({{"audio", "junk.wav"}}, "Q3?", "A3.").dump() + "\n";
      rows += conversation({{"audio", "empty.wav"}}, "Q4?", "A4.").dump() + "\n";
      rows += conversation({{"audio", "cut.flac"}}, "Q5?", "A5.").dump() + "\n";
      rows += conversation({{"audio", "jfk.wav"}}, "Once more?", "Yes.").dump() + "\n";
      rows += conversation({{"image", "xray.png"}}, "Modality?", "X-ray.").dump() + "\n";
      write_text(s.data / "messages.jsonl", rows);
      // Flat rows with an audio column (MedPix columns + `clip`); row 1 has no clip.
      std::string flat;
      flat += json{{"image_id", "xray.png"}, {"clip", "jfk.flac"}, {"question", "Both?"}, {"answer", "Yes."}}.dump() + "\n";
      flat += json{{"image_id", "xray.png"}, {"clip", ""}, {"question", "No clip?"}, {"answer", "No."}}.dump() + "\n";
      flat += json{{"image_id", "xray.png"}, {"clip", "jfk.wav"}, {"question", "Speech?"}, {"answer", "Yes."}}.dump() + "\n";
      write_text(s.data / "flat.jsonl", flat);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return s;
  }();
  return set;
}

PreprocessSummary run_preprocess(const fs::path& model, const fs::path& input, const fs::path& out,
                                 std::vector<std::string> extra = {}) {
  ConfigSchema schema;
  register_core_config(schema);
  register_preprocess_config(schema);
  std::vector<std::string> overrides{"preprocess.model_dir=" + model.string(),
                                     "preprocess.tokenizer=" + audio_set().tokenizer.string(),
                                     "preprocess.input=" + input.string(), "preprocess.output_dir=" + out.string(),
                                     "preprocess.samples_per_shard=2", "preprocess.threads=1"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  Config cfg = Config::load(schema, "", overrides);
  return preprocess_run(preprocess_settings_from(cfg), cfg, MPI_COMM_WORLD);
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::map<int64_t, std::string> reject_reasons(const fs::path& split) {
  std::map<int64_t, std::string> out;
  std::ifstream in(split / "rejects.jsonl");
  for (std::string line; std::getline(in, line);) {
    json r = json::parse(line);
    out[r["row"].get<int64_t>()] = r["reason"].get<std::string>();
  }
  return out;
}

// The features the Gemma 3n extractor gives for a clip file: decode, downmix, resample to 16 kHz.
AudioFeatures expected_features(const fs::path& clip_file) {
  AudioClip clip = decode_audio_file(clip_file.string());
  if (clip.sample_rate != 16000) clip = resample(clip, 16000);
  return gemma3n_log_mel(clip, AudioFeatureConfig{});
}

std::unique_ptr<ShardReader> open_shard(const fs::path& split, int64_t k) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05lld.h5", static_cast<long long>(k));
  return ShardReader::open((split / name).string());
}

// Checks a sample's token layout: per audio ref, <start_of_audio>, kAudioTokens audio soft tokens
// (type 3), <end_of_audio>; per image ref, kImageTokens image tokens (type 1).
void expect_media_tokens(const ShardSample& smp, const GemmaChatTemplate& tpl, const SentencePiece& sp) {
  int64_t audio_refs = 0, image_refs = 0, audio_tokens = 0, image_tokens = 0;
  for (const MediaRef& m : smp.media) (m.kind == MediaKind::Audio ? audio_refs : image_refs)++;
  for (size_t t = 0; t < smp.ids.size(); ++t) {
    if (smp.token_type[t] == kTokenAudio) {
      audio_tokens++;
      EXPECT_EQ(smp.ids[t], tpl.audio_token_id());
      EXPECT_EQ(smp.loss_mask[t], 0);
    }
    if (smp.token_type[t] == kTokenImage) image_tokens++;
    if (smp.ids[t] == sp.piece_to_id("<start_of_audio>")) {
      ASSERT_LT(t + kAudioTokens + 1, smp.ids.size());
      EXPECT_EQ(smp.ids[t + kAudioTokens + 1], sp.piece_to_id("<end_of_audio>"));
      for (int k = 1; k <= kAudioTokens; ++k) EXPECT_EQ(smp.token_type[t + k], kTokenAudio);
    }
  }
  EXPECT_EQ(audio_tokens, kAudioTokens * audio_refs) << "sample " << smp.id;
  EXPECT_EQ(image_tokens, kImageTokens * image_refs) << "sample " << smp.id;
}

TEST(PreprocessAudio, MessageRowsStoreEachClipOnceWithTheExtractorsFeatures) {
  const AudioSet& set = audio_set();
  const fs::path out = set.root / "msgs";
  PreprocessSummary sum = run_preprocess(set.gemma3n, set.data / "messages.jsonl", out);
  const fs::path split = out / "train";
  EXPECT_EQ(sum.samples, 5);  // rows 0, 1, 2, 6, 7
  EXPECT_EQ(sum.rejected, 3);
  EXPECT_EQ(sum.audio, 2);    // the WAV and the FLAC (different bytes), each once
  EXPECT_EQ(sum.images, 1);
  const json m = read_json(split / "manifest.json");
  EXPECT_EQ(m["model_family"], "gemma3n");
  EXPECT_EQ(m["counts"]["distinct_audio"], 2);
  EXPECT_EQ(m["audio"]["tokens_per_clip"], kAudioTokens);

  // Shard 0 holds rows 0 and 1 and both clips: slot 0 the WAV (first use), slot 1 the FLAC.
  auto s0 = open_shard(split, 0);
  EXPECT_EQ(s0->header().model_family, "gemma3n");
  ASSERT_EQ(s0->header().num_audio, 2);
  ASSERT_EQ(s0->num_samples(), 2);
  const ShardSample row0 = s0->sample(0), row1 = s0->sample(1);
  ASSERT_EQ(row0.media.size(), 1u);
  EXPECT_EQ(row0.media[0], (MediaRef{MediaKind::Audio, 0, 0}));
  ASSERT_EQ(row1.media.size(), 2u);
  EXPECT_EQ(row1.media[0], (MediaRef{MediaKind::Image, 0, 0}));
  EXPECT_EQ(row1.media[1], (MediaRef{MediaKind::Audio, 0, 1}));
  for (const auto& [slot, file] : std::vector<std::pair<int, std::string>>{{0, "jfk.wav"}, {1, "jfk.flac"}}) {
    const AudioFeatures want = expected_features(set.data / file);
    const ShardAudio got = s0->audio(slot);
    EXPECT_EQ(got.frames, want.frames) << file;
    EXPECT_EQ(got.bins, 128) << file;
    EXPECT_TRUE(got.features == want.values) << file << ": stored features differ from gemma3n_log_mel's";
  }
  const AudioClip wav = decode_audio_file((set.data / "jfk.wav").string());
  EXPECT_EQ(s0->audio(0).frames, gemma3n_frame_count(static_cast<int64_t>(wav.samples.size()), AudioFeatureConfig{}));

  // Later uses of the WAV refer to shard 0's slot; their shards store no audio.
  auto s1 = open_shard(split, 1), s3 = open_shard(split, 3);
  EXPECT_EQ(s1->header().num_audio, 0);
  EXPECT_EQ(s1->sample(0).media, (std::vector<MediaRef>{{MediaKind::Audio, 0, 0}}));
  EXPECT_EQ(s3->sample(0).media, (std::vector<MediaRef>{{MediaKind::Audio, 0, 0}}));
  EXPECT_EQ(s3->sample(1).media, (std::vector<MediaRef>{{MediaKind::Image, 0, 0}}));

  SentencePiece sp(set.tokenizer.string());
  GemmaChatTemplate tpl(sp, {kImageTokens, kAudioTokens});
  for (auto* shard : {s0.get(), s1.get(), s3.get()})
    for (int64_t i = 0; i < shard->num_samples(); ++i) expect_media_tokens(shard->sample(i), tpl, sp);

  const auto reasons = reject_reasons(split);
  ASSERT_EQ(reasons.size(), 3u);
  EXPECT_NE(reasons.at(3).find("junk.wav"), std::string::npos) << reasons.at(3);
  EXPECT_NE(reasons.at(4).find("empty"), std::string::npos) << reasons.at(4);
  EXPECT_NE(reasons.at(5).find("cut.flac"), std::string::npos) << reasons.at(5);
}

TEST(PreprocessAudio, FlatRowsTakeTheAudioColumn) {
  const AudioSet& set = audio_set();
  const fs::path out = set.root / "flat";
  PreprocessSummary sum = run_preprocess(set.gemma3n, set.data / "flat.jsonl", out,
                                         {"preprocess.columns.audio=clip", "preprocess.image_dir=" + set.data.string()});
  const fs::path split = out / "train";
  EXPECT_EQ(sum.samples, 2);
  EXPECT_EQ(reject_reasons(split), (std::map<int64_t, std::string>{{1, "missing audio"}}));
  auto s0 = open_shard(split, 0), s1 = open_shard(split, 1);
  // Row 0: image then clip, both stored in shard 0; row 2 (shard 1) stores the WAV in its own shard.
  EXPECT_EQ(s0->sample(0).media, (std::vector<MediaRef>{{MediaKind::Image, 0, 0}, {MediaKind::Audio, 0, 0}}));
  EXPECT_EQ(s1->sample(0).media, (std::vector<MediaRef>{{MediaKind::Image, 0, 0}, {MediaKind::Audio, 1, 0}}));
  EXPECT_TRUE(s0->audio(0).features == expected_features(set.data / "jfk.flac").values);
  EXPECT_TRUE(s1->audio(0).features == expected_features(set.data / "jfk.wav").values);
  SentencePiece sp(set.tokenizer.string());
  GemmaChatTemplate tpl(sp, {kImageTokens, kAudioTokens});
  expect_media_tokens(s0->sample(0), tpl, sp);
}

// hf_audio.parquet (tests/unit/parquet/make_test_parquet.mjs): HF Image + Audio structs with the
// fixture bytes; row 2's Audio struct is null, row 3's clip is a path only (the WAV again).
TEST(PreprocessAudio, ParquetRowsTakeTheHfAudioStruct) {
  const AudioSet& set = audio_set();
  const char* generated = std::getenv("OMNITUNE_PARQUET_TEST_DATA");
  ASSERT_NE(generated, nullptr) << "OMNITUNE_PARQUET_TEST_DATA is not set (ctest sets it: run through ctest)";
  const fs::path out = set.root / "parquet";
  PreprocessSummary sum = run_preprocess(set.gemma3n, fs::path(generated) / "hf_audio.parquet", out,
                                         {"preprocess.columns.audio=audio", "preprocess.audio_dir=" + set.data.string()});
  const fs::path split = out / "train";
  EXPECT_EQ(sum.samples, 3);
  EXPECT_EQ(sum.audio, 2);  // the path-only WAV has the embedded WAV's bytes: stored once
  EXPECT_EQ(reject_reasons(split), (std::map<int64_t, std::string>{{2, "missing audio"}}));
  auto s0 = open_shard(split, 0), s1 = open_shard(split, 1);
  EXPECT_EQ(s0->sample(0).media, (std::vector<MediaRef>{{MediaKind::Image, 0, 0}, {MediaKind::Audio, 0, 0}}));
  EXPECT_EQ(s0->sample(1).media, (std::vector<MediaRef>{{MediaKind::Image, 0, 0}, {MediaKind::Audio, 0, 1}}));
  EXPECT_EQ(s1->sample(0).media, (std::vector<MediaRef>{{MediaKind::Image, 0, 0}, {MediaKind::Audio, 0, 0}}));
  EXPECT_TRUE(s0->audio(0).features == expected_features(set.data / "jfk.wav").values);
  EXPECT_TRUE(s0->audio(1).features == expected_features(set.data / "jfk.flac").values);
}

TEST(PreprocessAudio, Gemma3RejectsAudioRowsWithoutReadingThem) {
  const AudioSet& set = audio_set();
  const fs::path out = set.root / "gemma3";
  PreprocessSummary sum = run_preprocess(set.gemma3, set.data / "messages.jsonl", out);
  EXPECT_EQ(sum.samples, 1);  // the image-only row
  EXPECT_EQ(sum.audio_decoded, 0);
  const auto reasons = reject_reasons(out / "train");
  ASSERT_EQ(reasons.size(), 7u);
  for (const auto& [row, why] : reasons)
    EXPECT_EQ(why.rfind("model family gemma3 has no audio tower", 0), 0u) << "row " << row << ": " << why;
  EXPECT_EQ(read_json(out / "train" / "manifest.json")["rejects_by_reason"].size(), 1u);
}

TEST(PreprocessAudio, ResumeDecodesOnlyTheLostShardsMedia) {
  const AudioSet& set = audio_set();
  const fs::path full = set.root / "resume-full", cut = set.root / "resume-cut", data = set.root / "resume-data";
  if (is_root()) fs::copy(set.data, data, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  MPI_Barrier(MPI_COMM_WORLD);
  PreprocessSummary fresh = run_preprocess(set.gemma3n, data / "messages.jsonl", full);
  EXPECT_EQ(fresh.images_decoded, 1);
  EXPECT_EQ(fresh.audio_decoded, 4);  // WAV, FLAC, junk, cut (the empty file fails when read)
  if (is_root()) {
    fs::copy(full, cut, fs::copy_options::recursive);
    // Shard 2 (rows 4-5) is lost; the clips only kept shards use are deleted.
    for (const char* f : {"shard-00002.h5", "shard-00002.work.json", "manifest.json", "rejects.jsonl"})
      fs::remove(cut / "train" / f);
    for (const char* f : {"jfk.wav", "jfk.flac", "junk.wav", "xray.png"}) fs::remove(data / f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  PreprocessSummary resumed = run_preprocess(set.gemma3n, data / "messages.jsonl", cut);
  EXPECT_EQ(resumed.shards_reused, 3);
  EXPECT_EQ(resumed.images_decoded, 0);
  EXPECT_EQ(resumed.audio_decoded, 1);  // cut.flac, homed in shard 2 (it fails again, the same way)
  const json a = read_json(full / "train" / "manifest.json"), b = read_json(cut / "train" / "manifest.json");
  EXPECT_EQ(a["shards"], b["shards"]);
  EXPECT_EQ(a["counts"], b["counts"]);
  EXPECT_EQ(reject_reasons(full / "train"), reject_reasons(cut / "train"));
}

// omnitune-make-sample --audio: every clip decodes (WAV 16 kHz mono, FLAC 44.1 kHz stereo) and its
// content is what its rows answer (beep count from the loud segments, pitch from zero crossings);
// the rows preprocess for Gemma 3n into one feature matrix per clip, equal to the extractor's.
TEST(PreprocessAudio, SampleClipsMatchTheirAnswersAndPreprocess) {
  const AudioSet& set = audio_set();
  const fs::path dir = set.root / "audio-sample";
  if (is_root()) {
    fs::remove_all(dir);
    SampleOptions opt;
    opt.out_dir = dir.string();
    opt.audio = true;
    EXPECT_EQ(make_sample_dataset(opt).clips, 32);  // 48 train + 16 validation rows, 2 per clip
  }
  MPI_Barrier(MPI_COMM_WORLD);
  std::ifstream rows_in(dir / "audio_train.jsonl");
  int checked = 0;
  std::set<std::string> distinct;  // SHA-256 of the training clips' bytes
  for (std::string line; std::getline(rows_in, line);) {
    const json row = json::parse(line);
    const std::string file = row["messages"][0]["content"][0]["audio"];
    const std::string question = row["messages"][0]["content"][1]["text"];
    const std::string answer = row["messages"][1]["content"][0]["text"];
    const AudioClip clip = decode_audio_file((dir / file).string());
    distinct.insert(sha256_file((dir / file).string()));
    EXPECT_EQ(clip.sample_rate, file.size() > 5 && file.substr(file.size() - 5) == ".flac" ? 44100 : 16000) << file;
    int segments = 0, crossings = 0, loud = 0, toned = 0;
    bool in_tone = false;
    int quiet_run = 0;
    for (size_t i = 0; i < clip.samples.size(); ++i) {
      const float v = clip.samples[i];
      const bool is_loud = std::abs(v) > 0.05f;
      if (is_loud) {
        ++loud;
        quiet_run = 0;
        if (!in_tone) ++segments;
        in_tone = true;
      } else if (++quiet_run > clip.sample_rate / 20) {  // 50 ms of silence ends a beep
        in_tone = false;
      }
      if (in_tone) {  // inside a beep (its last 50 ms of silence included: a slight underestimate)
        ++toned;
        if (i > 0 && (clip.samples[i - 1] < 0) != (v < 0)) ++crossings;
      }
    }
    EXPECT_GT(loud, 0) << file;
    const double hz = 0.5 * crossings * clip.sample_rate / std::max(toned, 1);
    if (question.rfind("How many", 0) == 0) {
      const char* words[] = {"One beep.", "Two beeps.", "Three beeps."};
      ASSERT_GE(segments, 1) << file;
      ASSERT_LE(segments, 3) << file;
      EXPECT_EQ(answer, words[segments - 1]) << file;
    } else {
      EXPECT_EQ(answer, hz > 600 ? "High." : "Low.") << file << ": " << hz << " Hz";
    }
    ++checked;
  }
  EXPECT_EQ(checked, 48);

  const fs::path out = set.root / "audio-sample-shards";
  PreprocessSummary sum = run_preprocess(set.gemma3n, dir / "audio_train.jsonl", out);
  EXPECT_EQ(sum.samples, 48);
  EXPECT_EQ(sum.rejected, 0);
  EXPECT_EQ(sum.audio, static_cast<int64_t>(distinct.size()));  // equal clips (same beeps, pitch, format) stored once
  EXPECT_GE(distinct.size(), 6u);
  auto s0 = open_shard(out / "train", 0);
  ASSERT_GE(s0->header().num_audio, 1);
  const AudioFeatures want = expected_features(dir / "audio" / "clip_0000.wav");
  EXPECT_TRUE(s0->audio(0).features == want.values) << "stored features differ from gemma3n_log_mel's";
}

}  // namespace
}  // namespace omnitune
