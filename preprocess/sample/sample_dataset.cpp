// Sample dataset generator. Everything derives from one seeded generator, so the same seed writes
// the same bytes. Images: dark noisy background, one filled shape; gray images get white shapes.
#include "sample/sample_dataset.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "media/audio_encode.h"
#include "media/image.h"
#include "media/image_encode.h"
#include "sample/speech_synth.h"

namespace omnitune {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Finding {
  std::string shape, colour, where;
};

const char* kShapes[] = {"circle", "square", "triangle"};
const char* kColours[] = {"red", "green", "blue", "white"};
const char* kPlaces[] = {"left", "right", "top", "bottom", "centre"};
const uint8_t kRgb[4][3] = {{220, 40, 40}, {40, 200, 60}, {50, 80, 230}, {235, 235, 235}};

// Draws the finding on a dark, noisy background.
Image draw(const Finding& f, int w, int h, int channels, std::mt19937_64& rng) {
  Image img = make_image(w, h, channels);
  std::uniform_int_distribution<int> noise(0, 24);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(10 + noise(rng));
  // Large enough that the tiny VLM's 64-pixel, 16-token view shows shape and colour (docs/training.md).
  const double r = std::min(w, h) * 0.3;
  double cx = w / 2.0, cy = h / 2.0;
  if (f.where == "left") cx = w * 0.25;
  if (f.where == "right") cx = w * 0.75;
  if (f.where == "top") cy = h * 0.25;
  if (f.where == "bottom") cy = h * 0.75;
  int ci = 0;
  while (kColours[ci] != f.colour) ++ci;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double dx = x - cx, dy = y - cy;
      bool in = false;
      if (f.shape == "circle") in = dx * dx + dy * dy <= r * r;
      else if (f.shape == "square") in = std::abs(dx) <= r && std::abs(dy) <= r;
      else in = dy <= r && dy >= -r && std::abs(dx) <= (dy + r) / 2.0;  // apex up
      if (!in) continue;
      uint8_t* px = &img.pixels[(size_t(y) * w + x) * channels];
      for (int c = 0; c < channels; ++c) px[c] = channels == 1 ? 235 : kRgb[ci][c];
    }
  }
  return img;
}

std::string capital(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// The four MedPix-style questions about one image: (question, answer, mode).
std::vector<std::array<std::string, 3>> questions(const Finding& f) {
  const std::string where = f.where == "centre" ? "In the centre." : "In the " + f.where + " half.";
  return {{"What shape is shown in this image?", "A " + f.colour + " " + f.shape + ".", "alignment"},
          {"Where is the lesion located?", where, "alignment"},
          {"What colour is the finding?", capital(f.colour) + ".", "alignment"},
          {"Describe the condition in detail:",
           "The image shows a " + f.colour + " " + f.shape + " " +
               (f.where == "centre" ? "in the centre" : "in the " + f.where + " half") + " of the image.",
           "from caption"}};
}

// One clip: `beeps` tones of 0.25 s at `hz` with 0.2 s gaps, 0.15 s of silence around them.
std::vector<float> beep_clip(int beeps, double hz, int rate, int channels) {
  const int tone = rate / 4, gap = rate / 5, edge = rate * 3 / 20;
  const int frames = 2 * edge + beeps * tone + (beeps - 1) * gap;
  std::vector<float> x(static_cast<size_t>(frames) * channels, 0.0f);
  for (int b = 0; b < beeps; ++b) {
    const int start = edge + b * (tone + gap);
    for (int i = 0; i < tone; ++i) {
      const double ramp = std::min(1.0, std::min(i, tone - 1 - i) / (0.01 * rate));  // no clicks
      const float v = static_cast<float>(0.5 * ramp * std::sin(2.0 * M_PI * hz * i / rate));
      for (int c = 0; c < channels; ++c) x[static_cast<size_t>(start + i) * channels + c] = v;
    }
  }
  return x;
}

const char* kCounts[] = {"One", "Two", "Three"};

// A readable file name for a spoken question: lowercase words joined by '-' ("what-colour-is-the-
// finding"), with "-2", "-3"... when another text already took the name.
std::string clip_name(const std::string& text, std::set<std::string>& taken) {
  std::string slug;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) slug += static_cast<char>(std::tolower(u));
    else if (!slug.empty() && slug.back() != '-') slug += '-';
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.size() > 60) slug.resize(60);
  if (slug.empty()) slug = "question";
  std::string name = slug;
  for (int k = 2; !taken.insert(name).second; ++k) name = slug + "-" + std::to_string(k);
  return name + ".wav";
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  OT_REQUIRE(out.good(), "cannot write ", p.string(), " (is the output directory writable?)");
  out << text;
}

}  // namespace

SampleSummary make_sample_dataset(const SampleOptions& opt) {
  OT_REQUIRE(opt.train_rows > 0 && opt.validation_rows > 0, "--train and --validation must be positive");
  if (opt.spoken) espeak_ng_program();  // a missing espeak-ng stops the run before anything is written
  const fs::path out = opt.out_dir;
  fs::create_directories(out / "images");
  fs::create_directories(out / "tokenizer");
  std::mt19937_64 rng(opt.seed);
  SampleSummary sum;

  // Images: one per four rows; validation images come after the train ones.
  const int per_image = 4;
  const int train_images = (opt.train_rows + per_image - 1) / per_image;
  const int val_images = (opt.validation_rows + per_image - 1) / per_image;
  std::vector<std::string> names;
  std::vector<Finding> findings;
  for (int i = 0; i < train_images + val_images; ++i) {
    const bool gray = i % 4 == 3;
    Finding f{kShapes[rng() % 3], gray ? "white" : kColours[rng() % 3], kPlaces[rng() % 5]};
    std::uniform_int_distribution<int> side(48, 160);
    const int w = side(rng), h = side(rng);
    Image img = draw(f, w, h, gray ? 1 : 3, rng);
    char name[32];
    const bool png = i % 2 == 0;
    std::snprintf(name, sizeof name, "img_%04d.%s", i, png ? "png" : "jpg");
    const std::vector<uint8_t> bytes = png ? encode_png(img, name) : encode_jpeg(img, 92, name);
    write_text(out / "images" / name, std::string(bytes.begin(), bytes.end()));
    names.push_back(name);
    findings.push_back(f);
  }
  sum.images = static_cast<int>(names.size());

  // Rows: four questions per image, in image order; the first validation row reuses the first
  // train image (a leak the preprocessor must report).
  struct RowRef {
    int image;
    std::array<std::string, 3> qa;  // question, answer, mode
  };
  std::vector<RowRef> train_refs, val_refs;  // the rows written, for the spoken set
  json corpus_lines = json::array();
  std::string train_jsonl, val_jsonl, conv_jsonl, corpus;
  auto add_row = [&](std::string& dst, int image, const std::array<std::string, 3>& qa, bool train) {
    json row{{"image_id", names[image]}, {"mode", qa[2]}, {"case_id", "MPX" + std::to_string(1000 + image)},
             {"question", qa[0]}, {"answer", qa[1]}};
    dst += row.dump() + "\n";
    corpus += qa[0] + "\n" + qa[1] + "\n";
    if (train) {
      json conv{{"messages",
                 {{{"role", "user"},
                   {"content", {{{"type", "image"}, {"image", "images/" + names[image]}}, {{"type", "text"}, {"text", qa[0]}}}}},
                  {{"role", "assistant"}, {"content", {{{"type", "text"}, {"text", qa[1]}}}}}}}};
      conv_jsonl += conv.dump() + "\n";
    }
  };
  for (int r = 0; r < opt.train_rows; ++r) {
    train_refs.push_back({r / per_image, questions(findings[r / per_image])[r % per_image]});
    add_row(train_jsonl, train_refs.back().image, train_refs.back().qa, true);
  }
  for (int r = 0; r < opt.validation_rows; ++r) {
    const int image = r == 0 ? 0 : train_images + r / per_image;
    val_refs.push_back({image, questions(findings[image])[r % per_image]});
    add_row(val_jsonl, image, val_refs.back().qa, false);
  }
  sum.leak_image = names[0];
  sum.train_rows = opt.train_rows;
  sum.validation_rows = opt.validation_rows;
  write_text(out / "train.jsonl", train_jsonl);
  write_text(out / "validation.jsonl", val_jsonl);
  write_text(out / "conversations.jsonl", conv_jsonl);

  // Audio (optional): clips after the images, with their own generator so the image set is the same.
  if (opt.audio) {
    fs::create_directories(out / "audio");
    std::mt19937_64 arng(opt.seed ^ 0xa0d10ULL);
    const int per_clip = 2;
    const int train_clips = (opt.train_rows + per_clip - 1) / per_clip;
    const int val_clips = (opt.validation_rows + per_clip - 1) / per_clip;
    std::string audio_train, audio_val;
    for (int k = 0; k < train_clips + val_clips; ++k) {
      const int beeps = 1 + static_cast<int>(arng() % 3);
      const bool high = arng() % 2 == 0;
      const bool wav = k % 2 == 0;
      const int rate = wav ? 16000 : 44100, channels = wav ? 1 : 2;
      char name[32];
      std::snprintf(name, sizeof name, "clip_%04d.%s", k, wav ? "wav" : "flac");
      write_audio_file((out / "audio" / name).string(), beep_clip(beeps, high ? 880.0 : 330.0, rate, channels),
                       channels, rate);
      const std::array<std::array<std::string, 2>, 2> qa{{
          {"How many beeps are in the clip?", std::string(kCounts[beeps - 1]) + (beeps == 1 ? " beep." : " beeps.")},
          {"Is the tone high or low?", high ? "High." : "Low."}}};
      const int first = k < train_clips ? k * per_clip : (k - train_clips) * per_clip;
      const int limit = k < train_clips ? opt.train_rows : opt.validation_rows;
      for (int q = 0; q < per_clip && first + q < limit; ++q) {
        json row{{"id", std::string(k < train_clips ? "audio-train-" : "audio-validation-") + std::to_string(first + q)},
                 {"messages",
                  {{{"role", "user"},
                    {"content", {{{"type", "audio"}, {"audio", std::string("audio/") + name}}, {{"type", "text"}, {"text", qa[q][0]}}}}},
                   {{"role", "assistant"}, {"content", {{{"type", "text"}, {"text", qa[q][1]}}}}}}}};
        (k < train_clips ? audio_train : audio_val) += row.dump() + "\n";
        corpus += qa[q][0] + "\n" + qa[q][1] + "\n";
      }
    }
    write_text(out / "audio_train.jsonl", audio_train);
    write_text(out / "audio_validation.jsonl", audio_val);
    sum.clips = train_clips + val_clips;
  }

  // Spoken questions (optional): the image rows with a short (alignment) question, the question
  // read aloud instead of written. Row ids carry the MedPix row index ("spoken-train-5" is line 5
  // of train.jsonl). Validation keeps only unseen images: the leak row is the image set's test.
  if (opt.spoken) {
    fs::create_directories(out / "spoken");
    std::map<std::string, std::string> clip_of;  // question text -> file under spoken/
    std::set<std::string> taken;
    auto add_spoken = [&](std::string& dst, const char* split, int r, const RowRef& ref) {
      auto [it, fresh] = clip_of.try_emplace(ref.qa[0]);
      if (fresh) {
        it->second = "spoken/" + clip_name(ref.qa[0], taken);
        const SpeechClip c = synthesise_speech(ref.qa[0], (out / it->second).string());
        OT_LOG_DEBUG("spoken question \"", ref.qa[0], "\": ", it->second, ", ", c.seconds, " s, RMS ", c.rms);
      }
      json row{{"id", std::string("spoken-") + split + "-" + std::to_string(r)},
               {"mode", ref.qa[2]},
               {"case_id", "MPX" + std::to_string(1000 + ref.image)},
               {"messages",
                {{{"role", "user"},
                  {"content",
                   {{{"type", "image"}, {"image", "images/" + names[ref.image]}}, {{"type", "audio"}, {"audio", it->second}}}}},
                 {{"role", "assistant"}, {"content", {{{"type", "text"}, {"text", ref.qa[1]}}}}}}}};
      dst += row.dump() + "\n";
    };
    std::string spoken_train, spoken_val;
    for (int r = 0; r < opt.train_rows; ++r) {
      if (train_refs[r].qa[2] != "alignment") continue;
      add_spoken(spoken_train, "train", r, train_refs[r]);
      ++sum.spoken_train_rows;
    }
    for (int r = 0; r < opt.validation_rows; ++r) {
      if (val_refs[r].qa[2] != "alignment" || val_refs[r].image < train_images) continue;
      add_spoken(spoken_val, "validation", r, val_refs[r]);
      ++sum.spoken_validation_rows;
    }
    if (spoken_val.empty())
      OT_LOG_WARN("spoken_validation.jsonl is empty: --validation ", opt.validation_rows,
                  " leaves no short question about an unseen image (use --validation 2 or more)");
    write_text(out / "spoken_train.jsonl", spoken_train);
    write_text(out / "spoken_validation.jsonl", spoken_val);
    sum.spoken_clips = static_cast<int>(clip_of.size());
  }

  // Tokenizer: spm_train on the texts plus every shape/colour/place word, with Gemma's ids and
  // special pieces (user-defined, so they are matched in text like the real vocabulary's).
  for (const char* w : kShapes) corpus += std::string(w) + " ";
  for (const char* w : kColours) corpus += std::string(w) + " ";
  for (const char* w : kPlaces) corpus += std::string(w) + " ";
  corpus += "\nThe quick brown fox jumps over the lazy dog. 0123456789 modality CT MRI X-ray diagnosis.\n";
  for (int i = 0; i < 20; ++i) corpus += "user\nmodel\n";  // the chat template's role words

  write_text(out / "tokenizer" / "corpus.txt", corpus);
  const std::string prefix = (out / "tokenizer" / "tokenizer").string();
  // The audio questions bring more characters than 320 pieces can hold with byte fallback.
  const int vocab_size = opt.audio ? std::max(opt.vocab_size, 384) : opt.vocab_size;
  // Relative paths from inside the folder: the model records its training paths, and the same
  // seed must give the same bytes wherever the set is written.
  const std::string cmd =
      "cd '" + (out / "tokenizer").string() + "' && spm_train --input=corpus.txt --model_prefix=tokenizer"
      " --model_type=bpe --vocab_size=" + std::to_string(vocab_size) +
      " --hard_vocab_limit=false --byte_fallback=true --character_coverage=1.0 --split_digits=true"
      // Like Gemma's tokenizer: no dummy "▁" prefix, whitespace kept as written.
      " --add_dummy_prefix=false --remove_extra_whitespaces=false --normalization_rule_name=identity"
      " --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece='<pad>' --eos_piece='<eos>' --bos_piece='<bos>'"
      " --unk_piece='<unk>' --user_defined_symbols='<start_of_turn>,<end_of_turn>,<start_of_image>,<end_of_image>,"
      "<image_soft_token>,<start_of_audio>,<end_of_audio>,<audio_soft_token>' --random_seed=" +
      std::to_string(opt.seed % 1000000) + " --num_threads=1 > tokenizer.log 2>&1";
  const int rc = std::system(cmd.c_str());
  OT_REQUIRE(rc == 0, "spm_train failed (exit ", rc, "); see ", prefix,
             ".log. Is the Debian package `sentencepiece` installed (scripts/install-deps.sh)?");
  sum.tokenizer = prefix + ".model";

  json files = json::object();
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (!e.is_regular_file() || e.path().filename() == "manifest.json" || e.path().extension() == ".log") continue;
    files[fs::relative(e.path(), out).string()] = sha256_file(e.path().string());
  }
  json manifest{{"generator", "omnitune-make-sample 0.1"}, {"seed", opt.seed}, {"train_rows", sum.train_rows},
                {"validation_rows", sum.validation_rows}, {"images", sum.images}, {"leak_image", sum.leak_image},
                {"files", files}};
  if (opt.audio) manifest["clips"] = sum.clips;
  if (opt.spoken) {
    manifest["spoken_clips"] = sum.spoken_clips;
    manifest["spoken_train_rows"] = sum.spoken_train_rows;
    manifest["spoken_validation_rows"] = sum.spoken_validation_rows;
  }
  write_text(out / "manifest.json", manifest.dump(2) + "\n");
  write_text(out / "README.md",
             "# omnitune sample dataset\n\nSynthetic, MedPix-VQA-shaped data made by `omnitune-make-sample --seed " +
                 std::to_string(opt.seed) + "`: " + std::to_string(sum.train_rows) + " train and " +
                 std::to_string(sum.validation_rows) + " validation rows over " + std::to_string(sum.images) +
                 " images (PNG and JPEG, RGB and gray) in `images/`.\n\n"
                 "- `train.jsonl`, `validation.jsonl`: MedPix columns `image_id` (file in images/), `mode`, `case_id`, "
                 "`question`, `answer`. Each image shows one shape; its kind, colour and position answer the questions.\n"
                 "- `conversations.jsonl`: the train rows as HF message lists (custom-dataset format).\n"
                 "- `tokenizer/tokenizer.model`: SentencePiece (BPE, byte fallback) trained on the texts, Gemma ids "
                 "(<pad> 0, <eos> 1, <bos> 2, <unk> 3) and the Gemma special pieces.\n" +
                 (opt.audio ? "- `audio/`, `audio_train.jsonl`, `audio_validation.jsonl`: " + std::to_string(sum.clips) +
                                  " clips (WAV 16 kHz mono, FLAC 44.1 kHz stereo) of 1-3 beeps, high or low; HF message "
                                  "rows asking how many beeps and which pitch (Gemma 3n).\n"
                            : std::string()) +
                 (opt.spoken ? "- `spoken/`, `spoken_train.jsonl`, `spoken_validation.jsonl`: " +
                                   std::to_string(sum.spoken_train_rows) + " train and " +
                                   std::to_string(sum.spoken_validation_rows) +
                                   " validation HF message rows (Gemma 3n) asking the short questions of the image "
                                   "rows by voice: user = the image and the question spoken by espeak-ng (" +
                                   std::to_string(sum.spoken_clips) +
                                   " WAV clips, 22.05 kHz mono, one per question text), assistant = the image row's "
                                   "answer. Same images and split; validation images are unseen in training.\n"
                             : std::string()) +
                 "- Leak: `" + sum.leak_image + "` is used by a train row and by the first validation row, on purpose: "
                 "the preprocessor must report it.\n");
  return sum;
}

}  // namespace omnitune
