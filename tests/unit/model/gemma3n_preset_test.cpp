// The tiny-3n random-weight preset: its config has every structural feature of E4B; sized to a
// tokenizer trained here with omnitune-make-sample's special pieces, the vision and audio ranges
// sit on <end_of_image>/<end_of_audio> and the soft tokens; the written directory loads through the
// normal loader path (as omnitune-forward does) and runs an image + audio prompt to finite,
// unsaturated logits and greedy tokens; the written feature-extractor max_length is the longest
// clip whose soft tokens fit the prompt. The e2b/e4b presets parse to the published shapes.
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "generate/generator.h"
#include "model/gemma3n_model.h"
#include "model/gemma3n_presets.h"
#include "model/hf_loader.h"
#include "nn/tensor_io.h"
#include "tokenizer/sentencepiece.h"
#include "../test_util.h"

using namespace omnitune;
namespace fs = std::filesystem;

namespace {

const char* const kSpecialPieces =
    "<start_of_turn>,<end_of_turn>,<start_of_image>,<end_of_image>,<image_soft_token>,<start_of_audio>,"
    "<end_of_audio>,<audio_soft_token>";

// The temp directories this process made (a tokenizer, a 32 MB model), removed at exit.
struct TempDirs {
  std::vector<std::string> dirs;
  std::string make(const std::string& name) {
    dirs.push_back(test_util::fresh_temp_dir(name));
    fs::create_directories(dirs.back());
    return dirs.back();
  }
  ~TempDirs() {
    for (const std::string& d : dirs) fs::remove_all(d);
  }
} temp_dirs;

// A BPE tokenizer with Gemma's ids and omnitune-make-sample's special pieces, trained by spm_train
// (Debian package sentencepiece) once per process.
const std::string& tokenizer_path() {
  static const std::string path = [] {
    const std::string dir = temp_dirs.make("gemma3n_preset_tok");
    {
      std::ofstream corpus(dir + "/corpus.txt");
      const char* words[] = {"what", "shape", "is", "shown", "in", "this", "image", "a", "red", "blue", "circle",
                             "square", "how", "many", "beeps", "tone", "high", "low", "left", "right", "the"};
      for (int i = 0; i < 2000; ++i) {
        for (int k = 0; k < 3 + i % 9; ++k) corpus << words[(i * 7 + k * 13) % 21] << ' ';
        corpus << ".\n";
      }
    }
    const std::string cmd = "spm_train --input=" + dir + "/corpus.txt --model_prefix=" + dir +
                            "/tok --model_type=bpe --vocab_size=400 --byte_fallback=true --character_coverage=1.0"
                            " --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece='<pad>' --eos_piece='<eos>'"
                            " --bos_piece='<bos>' --unk_piece='<unk>' --user_defined_symbols='" +
                            std::string(kSpecialPieces) + "' --num_threads=1 > " + dir + "/spm.log 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "spm_train failed (install Debian's sentencepiece); see " << dir
                                           << "/spm.log";
    return dir + "/tok.model";
  }();
  return path;
}

Gemma3nVocab vocab_of(const SentencePiece& sp, const std::string& name) {
  Gemma3nVocab v;
  v.size = sp.vocab_size();
  v.pad_id = sp.pad_id();
  v.eos_id = sp.eos_id();
  v.bos_id = sp.bos_id();
  v.name = name;
  v.id_of = [&sp](const std::string& p) -> int64_t {
    const int32_t id = sp.piece_to_id(p);
    return id == sp.unk_id() ? -1 : id;
  };
  return v;
}

// The tiny-3n directory sized to the test tokenizer, written once (float32).
struct TinyDir {
  std::string dir, cfg_json;
  Gemma3nInitReport report;
};

const TinyDir& tiny_dir() {
  static const TinyDir t = [] {
    TinyDir d;
    d.dir = temp_dirs.make("gemma3n_preset_model");
    SentencePiece sp(tokenizer_path());
    d.cfg_json = gemma3n_config_for_vocab(gemma3n_preset_config_json("tiny-3n"), vocab_of(sp, tokenizer_path()));
    d.report = gemma3n_write_random_model(d.dir, d.cfg_json, gemma3n_preset_image_size("tiny-3n"), at::kFloat, 7);
    return d;
  }();
  return t;
}

// The normal loader path (omnitune-forward's): config, checkpoint shapes for the vision tower,
// the model, the HF loader.
std::unique_ptr<Gemma3nModel> load(const std::string& dir) {
  auto m = gemma3n_model_for_checkpoint(dir);
  ParamList p = m->params();
  HfLoadOptions o;
  o.dtype = at::kFloat;
  gemma3n_load_weights(dir, *m, p, o);
  return m;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Feature frames of n samples (gemma-spec D.8, after padding to a multiple of 128).
int64_t frames_of(int64_t n) { return ((n + 127) / 128 * 128 - 513) / 160 + 1; }

}  // namespace

TEST(Gemma3nPreset, TinyConfigHasEveryStructuralFeature) {
  const Gemma3nConfig c = gemma3n_config_parse(gemma3n_preset_config_json("tiny-3n"), "tiny-3n");
  const Gemma3nTextConfig& t = c.text;
  EXPECT_LE(t.hidden_size, 128);
  EXPECT_GE(t.num_hidden_layers, 4);
  EXPECT_LE(t.num_hidden_layers, 6);
  EXPECT_GE(t.num_kv_shared_layers, 1);
  // Both attention types, and both among the KV-shared layers.
  for (bool sliding : {true, false}) {
    bool shared = false;
    for (int64_t i = t.first_kv_shared_layer(); i < t.num_hidden_layers; ++i) shared |= t.layer_is_sliding[size_t(i)] == sliding;
    EXPECT_TRUE(shared) << (sliding ? "sliding" : "full") << " layers are not among the KV-shared ones";
  }
  EXPECT_GT(t.activation_sparsity[0], 0.0);
  for (size_t i = 1; i < t.activation_sparsity.size(); ++i) EXPECT_EQ(t.activation_sparsity[i], 0.0);
  EXPECT_NE(t.intermediate_size[0], t.intermediate_size[1]);  // per-layer (MatFormer) widths
  EXPECT_EQ(t.altup_num_inputs, 4);
  EXPECT_GT(t.laurel_rank, 0);
  EXPECT_EQ(t.sliding_window, 16);
  EXPECT_EQ(c.audio.input_feat_size, 128);  // the preprocessor's log-mel bins
  EXPECT_EQ(c.audio.conf_num_hidden_layers, 2);
  EXPECT_EQ(c.vision.msfa_output_resolution * c.vision.msfa_output_resolution, c.vision_soft_tokens_per_image);
}

TEST(Gemma3nPreset, ReleasedPresetsHaveThePublishedShapes) {
  const Gemma3nConfig e4b = gemma3n_config_parse(gemma3n_preset_config_json("e4b"), "e4b");
  const Gemma3nConfig e2b = gemma3n_config_parse(gemma3n_preset_config_json("e2b"), "e2b");
  EXPECT_EQ(e4b.text.num_hidden_layers, 35);
  EXPECT_EQ(e4b.text.num_kv_shared_layers, 15);
  EXPECT_EQ(e4b.text.intermediate_size, std::vector<int64_t>(35, 16384));
  EXPECT_EQ(e2b.text.num_hidden_layers, 30);
  EXPECT_EQ(e2b.text.num_kv_shared_layers, 10);
  EXPECT_EQ(e2b.text.intermediate_size, std::vector<int64_t>(30, 8192));
  for (const Gemma3nConfig* c : {&e4b, &e2b}) {
    EXPECT_EQ(c->text.vocab_size, 262400);
    EXPECT_FALSE(c->text.layer_is_sliding[4]);  // every 5th layer global
    EXPECT_TRUE(c->text.layer_is_sliding[5]);
    EXPECT_EQ(c->text.activation_sparsity[9], 0.95);
    EXPECT_EQ(c->text.activation_sparsity[10], 0.0);
    EXPECT_EQ(c->audio.vocab_offset, 262272);
    EXPECT_EQ(c->image_token_id, 262145);
    EXPECT_EQ(c->audio_soft_tokens_per_image, 188);
  }
  EXPECT_EQ(gemma3n_max_audio_samples(gemma3n_preset_config_json("e4b")), 480000);  // HF's 30 s
  EXPECT_EQ(gemma3n_preset_image_size("e4b"), 768);
  EXPECT_NE(test_util::error_of([] { gemma3n_preset_config_json("e8b"); }).find("tiny-3n, e2b or e4b"),
            std::string::npos);
}

TEST(Gemma3nPreset, VocabularyAndIdsComeFromTheTokenizer) {
  SentencePiece sp(tokenizer_path());
  const Gemma3nConfig c = gemma3n_config_parse(tiny_dir().cfg_json, "sized");
  const int64_t eoi = sp.piece_to_id("<end_of_image>"), eoa = sp.piece_to_id("<end_of_audio>");
  EXPECT_EQ(c.text.vocab_size, sp.vocab_size());
  EXPECT_EQ(c.text.vocab_size_per_layer_input, sp.vocab_size());
  EXPECT_EQ(c.vision.vocab_offset, eoi);
  EXPECT_EQ(c.vision.vocab_size, 2);
  EXPECT_EQ(c.audio.vocab_offset, eoa);
  EXPECT_EQ(c.audio.vocab_size, 2);
  EXPECT_EQ(c.boi_token_id, sp.piece_to_id("<start_of_image>"));
  EXPECT_EQ(c.eoi_token_id, eoi);
  EXPECT_EQ(c.image_token_id, sp.piece_to_id("<image_soft_token>"));
  EXPECT_EQ(c.boa_token_id, sp.piece_to_id("<start_of_audio>"));
  EXPECT_EQ(c.eoa_token_id, eoa);
  EXPECT_EQ(c.audio_token_id, sp.piece_to_id("<audio_soft_token>"));
  EXPECT_EQ(c.text.eos_token_id, sp.eos_id());
  EXPECT_EQ(c.text.bos_token_id, sp.bos_id());
  const nlohmann::json j = nlohmann::json::parse(tiny_dir().cfg_json);
  EXPECT_EQ(j["eos_token_id"], nlohmann::json({sp.eos_id(), sp.piece_to_id("<end_of_turn>")}));
  // boi/boa are text ids: outside both embedder ranges.
  for (int64_t id : {c.boi_token_id, c.boa_token_id}) {
    EXPECT_FALSE(id >= c.vision.vocab_offset && id < c.vision.vocab_offset + c.vision.vocab_size);
    EXPECT_FALSE(id >= c.audio.vocab_offset && id < c.audio.vocab_offset + c.audio.vocab_size);
  }
}

TEST(Gemma3nPreset, TokenizerWithoutTheSampleLayoutIsAClearError) {
  // Pieces present but <image_soft_token> not right after <end_of_image>.
  std::map<std::string, int64_t> ids{{"<start_of_turn>", 4}, {"<end_of_turn>", 5},  {"<start_of_image>", 6},
                                     {"<end_of_image>", 7},  {"<image_soft_token>", 9}, {"<start_of_audio>", 8},
                                     {"<end_of_audio>", 10}, {"<audio_soft_token>", 11}};
  Gemma3nVocab v;
  v.size = 300;
  v.name = "swapped.model";
  v.id_of = [&ids](const std::string& p) -> int64_t { return ids.count(p) ? ids.at(p) : -1; };
  const std::string tiny = gemma3n_preset_config_json("tiny-3n");
  std::string msg = test_util::error_of([&] { gemma3n_config_for_vocab(tiny, v); });
  EXPECT_NE(msg.find("swapped.model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("must follow <end_of_image>"), std::string::npos) << msg;
  // A Gemma 3 tokenizer: no audio pieces.
  ids.erase("<start_of_audio>");
  ids["<image_soft_token>"] = 8;
  msg = test_util::error_of([&] { gemma3n_config_for_vocab(tiny, v); });
  EXPECT_NE(msg.find("has no piece <start_of_audio>"), std::string::npos) << msg;
}

TEST(Gemma3nPreset, WrittenDirectoryHasSaneRandomWeightsAndProcessorSettings) {
  const TinyDir& t = tiny_dir();
  for (const char* f : {"config.json", "model.safetensors", "preprocessor_config.json"})
    EXPECT_TRUE(fs::is_regular_file(t.dir + "/" + f)) << f;
  EXPECT_GT(t.report.parameters, 1000000);
  EXPECT_LT(t.report.parameters, 20000000);
  // Gains are centred on 1 (HF initialises Gemma 3n RMSNorm weights to 1), weights on 0.
  SafetensorsFile f = SafetensorsFile::open(t.dir + "/model.safetensors");
  int64_t gains = 0, scales = 0, vision = 0;
  for (const std::string& n : f.names()) {
    const at::Tensor x = safetensors_read(f, n).to(at::kDouble);
    const bool gain = n.find("norm.weight") != std::string::npos || n.find("layernorm.weight") != std::string::npos ||
                      n.find(".bn.weight") != std::string::npos || n.find(".bn1.weight") != std::string::npos ||
                      n.find(".bn2.weight") != std::string::npos;
    const bool scale = n.find("correct_output_scale") != std::string::npos;
    vision += n.rfind("model.vision_tower.timm_model.", 0) == 0;
    if (gain || scale) {
      EXPECT_NEAR(x.mean().item<double>(), 1.0, 0.05) << n;
      gains += gain;
      scales += scale;
    } else if (n.find("embedding.weight") != std::string::npos || n.find("proj.weight") != std::string::npos) {
      EXPECT_NEAR(x.std().item<double>(), 0.02, 0.01) << n;
    }
  }
  EXPECT_EQ(scales, 6);  // one per layer
  EXPECT_GT(gains, 100);
  EXPECT_GT(vision, 300);  // the whole MobileNetV5 layout

  const nlohmann::json p = read_json(t.dir + "/preprocessor_config.json");
  EXPECT_EQ(p["size"]["height"], 128);
  EXPECT_EQ(p["size"]["width"], 128);
  EXPECT_EQ(p["do_normalize"], false);
  EXPECT_EQ(p["image_seq_length"], 16);
  EXPECT_EQ(p["feature_size"], 128);
  EXPECT_EQ(p["sampling_rate"], 16000);
  // max_length: the longest clip whose soft tokens fit (32 at 6.25 tokens/s: 5.15 s).
  const int64_t max_len = p["max_length"].get<int64_t>();
  EXPECT_EQ(max_len % 128, 0);
  EXPECT_GE(max_len, 5 * 16000);  // the sample set's spoken questions are at most 5 s
  auto m = load(t.dir);
  const Gemma3nAudioEncoder& enc = m->audio();
  auto tokens = [&](int64_t n) { return (enc.frames_after_subsampling(frames_of(n)) + 3) / 4; };
  EXPECT_LE(tokens(max_len), 32);
  EXPECT_GT(tokens(max_len + 128), 32);
}

TEST(Gemma3nPreset, TinyModelRunsAnImageAndAudioPromptAndGenerates) {
  const TinyDir& t = tiny_dir();
  auto m = load(t.dir);
  const Gemma3nConfig& c = m->config();
  at::NoGradGuard no_grad;

  // <bos> <start_of_turn> text <boi> 16 x image <eoi> <boa> 32 x audio <eoa> text <end_of_turn>
  // <start_of_turn> text: 65 tokens, longer than the sliding window of 16.
  std::vector<int64_t> ids{c.text.bos_token_id, 4, 40, 41, c.boi_token_id};
  ids.insert(ids.end(), size_t(c.vision_soft_tokens_per_image), c.image_token_id);
  ids.push_back(c.eoi_token_id);
  ids.push_back(c.boa_token_id);
  ids.insert(ids.end(), size_t(c.audio_soft_tokens_per_image), c.audio_token_id);
  ids.push_back(c.eoa_token_id);
  for (int64_t k : {50, 60, 70, 5, 4, 80, 90, 100}) ids.push_back(k);
  const int64_t T = int64_t(ids.size());
  Gemma3nInputs in;
  in.input_ids = at::tensor(ids, at::kLong).view({1, T});
  at::manual_seed(3);
  in.pixel_values = at::rand({1, 3, 128, 128});
  in.audio_features = at::randn({1, 200, 128}) - 4.0;  // ~2 s of log-mel frames
  in.audio_pad = at::zeros({1, 200}, at::kBool);

  const auto t0 = std::chrono::steady_clock::now();
  const at::Tensor image_soft = m->image_soft_tokens(in.pixel_values);
  const double image_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("tiny-3n: %lld parameters; vision tower + embedder forward of one 128x128 image: %.3f s\n",
              static_cast<long long>(t.report.parameters), image_s);
  EXPECT_EQ(image_soft.sizes(), (std::vector<int64_t>{1, 16, c.text.hidden_size}));
  const at::Tensor audio_soft = m->audio_soft_tokens(in.audio_features, in.audio_pad);
  EXPECT_EQ(audio_soft.sizes(), (std::vector<int64_t>{1, 32, c.text.hidden_size}));
  EXPECT_TRUE(at::isfinite(image_soft).all().item<bool>());
  EXPECT_TRUE(at::isfinite(audio_soft).all().item<bool>());

  const auto t1 = std::chrono::steady_clock::now();
  const at::Tensor logits = m->forward_logits(in);
  std::printf("tiny-3n: forward of a %lld-token image + audio prompt: %.3f s\n", static_cast<long long>(T),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, T, c.text.vocab_size}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  // Not saturated: well inside the soft cap of 30, and the media change the logits of the text after them.
  EXPECT_LT(logits.abs().max().item<double>(), 25.0);
  EXPECT_GT(logits.std().item<double>(), 1e-3);
  Gemma3nInputs other = in;
  other.pixel_values = at::rand({1, 3, 128, 128});
  other.audio_features = at::randn({1, 200, 128}) - 4.0;
  EXPECT_GT((m->forward_logits(other) - logits).slice(1, T - 8).abs().max().item<double>(), 1e-4);

  GenerateRequest req;
  req.input_ids = in.input_ids;
  req.pixel_values = in.pixel_values;
  req.audio_features = in.audio_features;
  req.audio_pad = in.audio_pad;
  req.max_new_tokens = 6;
  const GenerateResult cached = generate(*m, req, SamplingOptions{});
  EXPECT_EQ(cached.tokens.sizes(), (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(cached.lengths, std::vector<int64_t>{6});
  EXPECT_TRUE(cached.tokens.ge(0).logical_and(cached.tokens.lt(c.text.vocab_size)).all().item<bool>());
  EXPECT_EQ(cached.tokens[0][0].item<int64_t>(), logits[0][T - 1].argmax().item<int64_t>());
  // The KV cache (with KV-shared layers) decodes what full recomputation decodes.
  req.use_cache = false;
  EXPECT_TRUE(at::equal(generate(*m, req, SamplingOptions{}).tokens, cached.tokens));
}
