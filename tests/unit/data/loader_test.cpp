// The training data loader, against a record of what the test wrote into tiny shards: the target
// shift and padding, pixel normalisation (hand formula, gray widened to RGB, cross-shard images in
// prompt order), a deterministic seeded permutation covering each sample once per epoch, DP slices
// whose union is the DP=1 step (DP 1/2/4), exact resume across epochs and across a DP change,
// group_by_length keeping each step's samples, prefetch giving bit-identical batches and passing
// its errors on, and clear errors for bad batch arithmetic, tokenizer mismatch and damaged shards.
// Gemma 3n audio: clips of image-only, audio-only and image+audio samples arrive per micro-batch in
// prompt order with the written values, zero-padded and flagged, identical on resume; damaged clip
// references, token/clip mismatches and split-wide mel-bin disagreements are errors naming the shard.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/hdf5_util.h"
#include "data/loader.h"
#include "../test_util.h"

using namespace omnitune;
namespace fs = std::filesystem;

namespace {

const std::string kSha(64, 'a');
constexpr int kTokensPerImage = 2;  // image soft tokens per image in the test shards
constexpr int kH = 3, kW = 4;       // image size (not square: catches a swapped H/W)
constexpr int kTokensPerClip = 3;   // audio soft tokens per clip in the audio test shards
constexpr int kBins = 4;            // mel bins of the test clips
const std::vector<std::vector<int>> kClipFrames{{3, 7}, {5}, {2}};  // frames of each shard's clips [shard][slot]
const std::vector<double> kMean{0.48145466, 0.4578275, 0.40821073}, kStd{0.26862954, 0.26130258, 0.27577711};

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / ("ot_loader_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// How to build a split; the hooks damage or vary it.
struct SplitSpec {
  int shards = 3, per_shard = 8;
  std::function<void(int shard, ShardHeader&)> edit_header;
  std::function<void(int row, ShardSample&)> edit_sample;  // after generation, before writing
  std::vector<int> manifest_order;                         // empty = 0, 1, 2, ...
};

// A Gemma 3n split with clips (kClipFrames) and the audio row patterns; the hooks damage it.
struct AudioSpec {
  bool enabled = false;
  std::function<void(int shard, ShardAudio&)> edit_clip;  // before writing
  std::function<void(nlohmann::json&)> edit_manifest;
};
const AudioSpec kAudio{true, {}, {}};

// A split on disk plus the record of everything written into it (the expectations).
struct Split {
  std::unique_ptr<TempDir> dir = std::make_unique<TempDir>();
  std::vector<ShardSample> rows;                  // by dataset index
  std::vector<std::vector<ShardImage>> images;    // [shard][slot]
  std::vector<std::vector<ShardAudio>> clips;     // [shard][slot] (audio splits)
  ShardHeader header;                             // of shard 0
  std::string path(int shard) const { return (dir->path / ("shard-" + std::to_string(100000 + shard).substr(1) + ".h5")).string(); }
  std::string str() const { return dir->path.string(); }
  int row_of(const std::string& id) const { return std::stoi(id.substr(1)); }
};

// Shard 0 holds an RGB image (slot 0) and a gray one (slot 1), shard 1 an RGB one; later shards
// none, so samples fetch images across shards. Row r has 3 + 5r mod 9 text tokens (random ids, a
// random loss mask on the answer part) and, by r mod 4: the RGB image of shard 0, the gray one, no
// image, or two images (shard 1's, then the gray one of shard 0).
// With `audio`, the shards also store clips (kClipFrames, random log-mel values) and row r
// shows, by r mod 6: the RGB image of shard 0; nothing; clip 0 of shard 0; the gray image then
// shard 1's clip; two clips (shard 0 slot 1, shard 2 slot 0); shard 1's clip then shard 1's image.
// Each image is kTokensPerImage image soft tokens; each clip <start> + kTokensPerClip audio soft
// tokens + <end>, so two clips are two runs.
Split make_split(const SplitSpec& spec = {}, const AudioSpec& audio = {}) {
  Split sp;
  std::mt19937 rng(1234);
  for (int s = 0; s < spec.shards; ++s) {
    sp.images.emplace_back();
    const int n_images = s == 0 ? 2 : s == 1 ? 1 : 0;
    for (int k = 0; k < n_images; ++k) {
      ShardImage im;
      im.height = kH;
      im.width = kW;
      im.channels = (s == 0 && k == 1) ? 1 : 3;
      im.sha256 = std::string(63, 'f') + char('0' + s * 2 + k);
      for (int i = 0; i < kH * kW * im.channels; ++i) im.pixels.push_back(static_cast<uint8_t>(rng() % 256));
      if (s == 0 && k == 0) im.pixels[0] = 255;  // a known corner value
      sp.images.back().push_back(im);
    }
  }
  std::mt19937 audio_rng(77);
  for (int s = 0; s < spec.shards; ++s) {
    sp.clips.emplace_back();
    if (!audio.enabled || s >= static_cast<int>(kClipFrames.size())) continue;
    for (int frames : kClipFrames[s]) {
      ShardAudio a;
      a.frames = frames;
      a.bins = kBins;
      // Never 0, so a real frame cannot pass for padding.
      for (int v = 0; v < frames * kBins; ++v)
        a.features.push_back(static_cast<float>(static_cast<int>(audio_rng() % 2000) - 1000) / 64.0f + 0.5f);
      if (audio.edit_clip) audio.edit_clip(s, a);
      sp.clips.back().push_back(a);
    }
  }
  nlohmann::json list = nlohmann::json::array();
  for (int s = 0; s < spec.shards; ++s) {
    ShardHeader h;
    h.split = "train";
    h.model_family = audio.enabled ? "gemma3n" : "gemma3";
    h.tokenizer_sha256 = kSha;
    h.producer = "test";
    h.image_height = kH;
    h.image_width = kW;
    h.image_mean = kMean;
    h.image_std = kStd;
    h.shard_index = s;
    h.num_shards = spec.shards;
    if (spec.edit_header) spec.edit_header(s, h);
    if (s == 0) sp.header = h;
    ShardWriter w(sp.path(s), h);
    for (const ShardImage& im : sp.images[s]) w.add_image(im);
    for (const ShardAudio& a : sp.clips[s]) w.add_audio(a);
    for (int k = 0; k < spec.per_shard; ++k) {
      const int r = s * spec.per_shard + k;
      ShardSample x;
      x.id = "s" + std::to_string(r);
      x.source_row = r;
      if (!audio.enabled) {
        if (r % 4 == 0) x.media = {{MediaKind::Image, 0, 0}};
        if (r % 4 == 1) x.media = {{MediaKind::Image, 0, 1}};
        if (r % 4 == 3) x.media = {{MediaKind::Image, 1, 0}, {MediaKind::Image, 0, 1}};
      } else {
        if (r % 6 == 0) x.media = {{MediaKind::Image, 0, 0}};
        if (r % 6 == 2) x.media = {{MediaKind::Audio, 0, 0}};
        if (r % 6 == 3) x.media = {{MediaKind::Image, 0, 1}, {MediaKind::Audio, 1, 0}};
        if (r % 6 == 4) x.media = {{MediaKind::Audio, 0, 1}, {MediaKind::Audio, 2, 0}};
        if (r % 6 == 5) x.media = {{MediaKind::Audio, 1, 0}, {MediaKind::Image, 1, 0}};
      }
      auto push = [&](int32_t id, uint8_t loss, uint8_t type) {
        x.ids.push_back(id);
        x.loss_mask.push_back(loss);
        x.token_type.push_back(type);
      };
      push(2, 0, 0);  // BOS
      for (const MediaRef& m : x.media) {
        if (m.kind == MediaKind::Image) {
          for (int k = 0; k < kTokensPerImage; ++k) push(99, 0, 1);
        } else {
          push(97, 0, 0);  // <start_of_audio>
          for (int k = 0; k < kTokensPerClip; ++k) push(98, 0, 3);
          push(96, 0, 0);  // <end_of_audio>
        }
      }
      const int text = 3 + (5 * r) % 9;
      for (int t = 0; t < text; ++t) push(static_cast<int32_t>(100 + rng() % 5000), t >= text / 2 && rng() % 4 != 0, 0);
      if (spec.edit_sample) spec.edit_sample(r, x);
      sp.rows.push_back(x);
      w.add_sample(x);
    }
    w.finish();
  }
  for (int k = 0; k < spec.shards; ++k) {
    const int s = spec.manifest_order.empty() ? k : spec.manifest_order[k];
    list.push_back({{"file", fs::path(sp.path(s)).filename().string()}, {"index", k}, {"samples", spec.per_shard}});
  }
  nlohmann::json manifest{{"schema_version", kShardSchemaVersion},
                          {"image", {{"tokens_per_image", kTokensPerImage}}},
                          {"shards", list}};
  if (audio.enabled) manifest["audio"] = {{"tokens_per_clip", kTokensPerClip}, {"mel_bins", kBins}};
  if (audio.edit_manifest) audio.edit_manifest(manifest);
  std::ofstream(sp.dir->path / "manifest.json") << manifest.dump();
  return sp;
}

// The default split, built once.
const Split& split() {
  static Split s = make_split();
  return s;
}

std::shared_ptr<const ShardDataset> data(const Split& s = split()) {
  return std::make_shared<ShardDataset>(s.str(), kSha);
}

LoaderOptions opts(int64_t micro, int64_t prefetch = 0, bool shuffle = true) {
  LoaderOptions o;
  o.micro_batch_size = micro;
  o.prefetch = prefetch;
  o.shuffle = shuffle;
  return o;
}

std::vector<std::string> ids_of(const std::vector<TrainBatch>& step) {
  std::vector<std::string> out;
  for (const auto& b : step) out.insert(out.end(), b.sample_ids.begin(), b.sample_ids.end());
  return out;
}

// The step's samples from every rank, in rank order.
std::vector<std::string> union_step(std::vector<std::unique_ptr<DataLoader>>& ranks) {
  std::vector<std::string> out;
  for (auto& l : ranks) {
    auto x = ids_of(l->next_step());
    out.insert(out.end(), x.begin(), x.end());
  }
  return out;
}

std::vector<std::unique_ptr<DataLoader>> ranks_of(int dp, int64_t micro, int64_t global, uint64_t seed,
                                                  LoaderOptions base = opts(1)) {
  std::vector<std::unique_ptr<DataLoader>> out;
  base.micro_batch_size = micro;
  for (int r = 0; r < dp; ++r) out.push_back(std::make_unique<DataLoader>(data(), base, global, r, dp, seed, 0));
  return out;
}

void expect_same_step(const std::vector<TrainBatch>& a, const std::vector<TrainBatch>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].sample_ids, b[i].sample_ids) << what;
    EXPECT_TRUE(at::equal(a[i].input_ids, b[i].input_ids)) << what;
    EXPECT_TRUE(at::equal(a[i].targets, b[i].targets)) << what;
    EXPECT_TRUE(at::equal(a[i].attention_mask, b[i].attention_mask)) << what;
    EXPECT_TRUE(at::equal(a[i].token_type_ids, b[i].token_type_ids)) << what;
    EXPECT_EQ(a[i].num_loss_tokens, b[i].num_loss_tokens) << what;
    ASSERT_EQ(a[i].pixel_values.defined(), b[i].pixel_values.defined()) << what;
    if (a[i].pixel_values.defined()) {
      EXPECT_TRUE(at::equal(a[i].pixel_values, b[i].pixel_values)) << what;
    }
    ASSERT_EQ(a[i].audio_features.defined(), b[i].audio_features.defined()) << what;
    ASSERT_EQ(a[i].audio_pad.defined(), b[i].audio_pad.defined()) << what;
    if (a[i].audio_features.defined()) {
      EXPECT_TRUE(at::equal(a[i].audio_features, b[i].audio_features)) << what;
      EXPECT_TRUE(at::equal(a[i].audio_pad, b[i].audio_pad)) << what;
    }
  }
}

// The image processor by hand: x / 255, then (x - mean) / std per channel; gray on all three.
std::vector<float> hand_pixels(const ShardImage& im, const std::vector<double>& mean, const std::vector<double>& std,
                               bool normalize) {
  std::vector<float> out;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < kH * kW; ++p) {
      const double x = im.pixels[p * im.channels + (im.channels == 3 ? c : 0)] / 255.0;
      out.push_back(static_cast<float>(normalize ? (x - mean[c]) / std[c] : x));
    }
  return out;
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}
#define EXPECT_HAS(text, part) EXPECT_TRUE(contains(text, part))

// Rewrites an int64 dataset or scalar attribute of a finished shard in place (to damage it).
void edit_int64_dataset(const std::string& file, const std::string& name, const std::function<void(std::vector<int64_t>&)>& edit) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  ASSERT_GE(d, 0);
  hid_t space = H5Dget_space(d);
  std::vector<int64_t> v(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  ASSERT_GE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  edit(v);
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
}

void edit_int64_attr(const std::string& file, const std::string& name, int64_t value) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t a = H5Aopen(f, name.c_str(), H5P_DEFAULT);
  ASSERT_GE(a, 0);
  ASSERT_GE(H5Awrite(a, H5T_NATIVE_INT64, &value), 0);
  H5Aclose(a);
  H5Fclose(f);
}

}  // namespace

TEST(Loader, TargetsAreTheNextTokenUnderTheLossMaskAndPaddingIsMasked) {
  const Split& sp = split();
  LoaderOptions o = opts(3);
  o.pad_to_multiple = 8;
  const int64_t pad = 7;
  DataLoader l(data(), o, 6, 0, 1, 11, pad);
  ASSERT_EQ(l.steps_per_epoch(), 4);
  std::set<std::string> seen;
  for (int s = 0; s < 4; ++s) {
    const auto step = l.next_step();
    ASSERT_EQ(step.size(), 2u);  // 6 = 3 x 1 rank x 2 accumulation steps
    for (const TrainBatch& b : step) {
      ASSERT_EQ(b.input_ids.sizes(), (at::IntArrayRef{3, b.input_ids.size(1)}));
      for (const at::Tensor& t : {b.input_ids, b.targets, b.attention_mask, b.token_type_ids}) {
        EXPECT_EQ(t.scalar_type(), at::kLong);
        EXPECT_EQ(t.sizes(), b.input_ids.sizes());
      }
      const int64_t T = b.input_ids.size(1);
      size_t longest = 0;
      int64_t loss_tokens = 0;
      for (int64_t r = 0; r < 3; ++r) {
        const ShardSample& x = sp.rows[sp.row_of(b.sample_ids[r])];
        seen.insert(x.id);
        longest = std::max(longest, x.ids.size());
        const int64_t n = static_cast<int64_t>(x.ids.size());
        for (int64_t t = 0; t < T; ++t) {
          const bool real = t < n;
          EXPECT_EQ(b.input_ids[r][t].item<int64_t>(), real ? x.ids[t] : pad);
          EXPECT_EQ(b.attention_mask[r][t].item<int64_t>(), real ? 1 : 0);
          EXPECT_EQ(b.token_type_ids[r][t].item<int64_t>(), real ? x.token_type[t] : 0);
          const bool target = t + 1 < n && x.loss_mask[t + 1];
          EXPECT_EQ(b.targets[r][t].item<int64_t>(), target ? x.ids[t + 1] : -100) << x.id << " t=" << t;
          loss_tokens += target;
        }
      }
      EXPECT_EQ(T % 8, 0);
      EXPECT_GE(T, static_cast<int64_t>(longest));
      EXPECT_LT(T - 8, static_cast<int64_t>(longest));  // the shortest multiple of 8
      EXPECT_EQ(b.num_loss_tokens, loss_tokens);
      EXPECT_EQ(b.num_loss_tokens, (b.targets != -100).sum().item<int64_t>());
      EXPECT_GT(b.num_loss_tokens, 0);
    }
  }
  EXPECT_EQ(seen.size(), 24u);
}

TEST(Loader, PixelsAreNormalisedByHandFormulaGrayWidenedAndInPromptOrder) {
  const Split& sp = split();
  DataLoader l(data(), opts(4, 0, false), 8, 0, 1, 0, 0);
  int checked_gray = 0, checked_two = 0;
  for (int s = 0; s < 3; ++s)
    for (const TrainBatch& b : l.next_step()) {
      std::vector<float> want;
      for (const std::string& id : b.sample_ids) {
        const ShardSample& x = sp.rows[sp.row_of(id)];
        for (const MediaRef& m : x.media) {
          const auto px = hand_pixels(sp.images[m.shard][m.slot], kMean, kStd, true);
          want.insert(want.end(), px.begin(), px.end());
          checked_gray += sp.images[m.shard][m.slot].channels == 1;
        }
        checked_two += x.media.size() == 2;
      }
      ASSERT_TRUE(b.pixel_values.defined());
      ASSERT_EQ(b.pixel_values.sizes(), (at::IntArrayRef{static_cast<int64_t>(want.size()) / (3 * kH * kW), 3, kH, kW}));
      EXPECT_EQ(b.pixel_values.scalar_type(), at::kFloat);
      const at::Tensor got = b.pixel_values.contiguous();
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got.data_ptr<float>()[i], want[i], 1e-6) << i;
    }
  EXPECT_GT(checked_gray, 0);
  EXPECT_GT(checked_two, 0);
  // A literal: the RGB image's corner is 255 -> channel 0: (1 - 0.48145466) / 0.26862954.
  at::Tensor px;
  data()->sample(0, &px);
  EXPECT_NEAR(px[0][0][0][0].item<float>(), 1.9303361, 1e-6);
  // Gray: its three channels are one plane normalised with each channel's constants.
  data()->sample(1, &px);
  const uint8_t g = sp.images[0][1].pixels[5];
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(px[0][c][1][1].item<float>(), (g / 255.0 - kMean[c]) / kStd[c], 1e-6);
  // do_normalize off (Gemma 3n): only the rescale; and text-only micro-batches have no pixels.
  const Split plain = make_split({1, 8, [](int, ShardHeader& h) { h.do_normalize = 0; }, {}, {}});
  data(plain)->sample(0, &px);
  const auto want = hand_pixels(plain.images[0][0], kMean, kStd, false);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(px.contiguous().data_ptr<float>()[i], want[i]);
  EXPECT_FLOAT_EQ(px[0][0][0][0].item<float>(), 1.0f);
  ShardDataset d(split().str(), kSha);
  d.sample(2, &px);  // row 2 shows no image
  EXPECT_FALSE(px.defined());
}

TEST(Loader, EachEpochIsADeterministicPermutationOfAllSamples) {
  DataLoader a(data(), opts(2), 8, 0, 1, 7, 0), b(data(), opts(2, 2), 8, 0, 1, 7, 0), c(data(), opts(2), 8, 0, 1, 8, 0);
  DataLoader in_order(data(), opts(2, 0, false), 8, 0, 1, 7, 0);
  EXPECT_EQ(a.steps_per_epoch(), 3);
  std::vector<std::vector<std::string>> epochs(3), epochs_c(3);
  std::vector<std::string> unshuffled;
  for (int e = 0; e < 3; ++e)
    for (int s = 0; s < 3; ++s) {
      EXPECT_EQ(a.position().epoch, e);
      EXPECT_EQ(a.position().consumed, 8 * s);
      auto x = ids_of(a.next_step()), y = ids_of(b.next_step()), z = ids_of(c.next_step());
      EXPECT_EQ(x, y);  // same seed: same order (prefetch or not)
      epochs[e].insert(epochs[e].end(), x.begin(), x.end());
      epochs_c[e].insert(epochs_c[e].end(), z.begin(), z.end());
      if (e == 0) {
        auto u = ids_of(in_order.next_step());
        unshuffled.insert(unshuffled.end(), u.begin(), u.end());
      }
    }
  EXPECT_EQ(a.position().epoch, 3);
  EXPECT_EQ(a.position().consumed, 0);
  std::vector<std::string> all;
  for (int r = 0; r < 24; ++r) all.push_back("s" + std::to_string(r));
  EXPECT_EQ(unshuffled, all);  // shuffle off: dataset order
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(std::set<std::string>(epochs[e].begin(), epochs[e].end()).size(), 24u);  // every sample once
    EXPECT_EQ(epochs[e].size(), 24u);
    EXPECT_NE(epochs[e], all);
    EXPECT_NE(epochs[e], epochs_c[e]);  // another seed, another order
  }
  EXPECT_NE(epochs[0], epochs[1]);  // a new permutation every epoch
  EXPECT_NE(epochs[1], epochs[2]);
}

TEST(Loader, DropLastSkipsThePartialBatchOtherwiseItWrapsToTheEpochStart) {
  DataLoader dropped(data(), opts(3), 9, 0, 1, 5, 0);
  LoaderOptions keep = opts(3);
  keep.drop_last = false;
  DataLoader kept(data(), keep, 9, 0, 1, 5, 0);
  EXPECT_EQ(dropped.steps_per_epoch(), 2);
  EXPECT_EQ(kept.steps_per_epoch(), 3);
  std::vector<std::string> d, k;
  for (int s = 0; s < 2; ++s) {
    auto x = ids_of(dropped.next_step());
    d.insert(d.end(), x.begin(), x.end());
  }
  for (int s = 0; s < 3; ++s) {
    auto x = ids_of(kept.next_step());
    k.insert(k.end(), x.begin(), x.end());
  }
  EXPECT_EQ(dropped.position().epoch, 1);
  EXPECT_EQ(kept.position().epoch, 1);
  EXPECT_EQ(std::vector<std::string>(k.begin(), k.begin() + 18), d);  // same permutation
  EXPECT_EQ(std::set<std::string>(k.begin(), k.end()).size(), 24u);   // the last 6, then 3 from the start
  EXPECT_EQ(std::vector<std::string>(k.begin() + 24, k.end()), std::vector<std::string>(k.begin(), k.begin() + 3));
}

TEST(Loader, DpSlicesTogetherAreTheDp1StepAtDp2AndDp4) {
  DataLoader one(data(), opts(2), 8, 0, 1, 3, 0);
  std::vector<std::vector<std::string>> ref;
  for (int s = 0; s < 7; ++s) ref.push_back(ids_of(one.next_step()));  // crosses two epoch ends
  for (auto [dp, micro] : {std::pair{2, 2}, std::pair{2, 4}, std::pair{4, 1}, std::pair{4, 2}}) {
    auto ranks = ranks_of(dp, micro, 8, 3);
    for (auto& r : ranks) EXPECT_EQ(r->grad_accum(), 8 / (dp * micro));
    for (int s = 0; s < 7; ++s) EXPECT_EQ(union_step(ranks), ref[s]) << "dp " << dp << " micro " << micro << " step " << s;
    for (auto& r : ranks) EXPECT_EQ(r->position().epoch, 2);
  }
}

TEST(Loader, ResumeContinuesAtTheExactSampleAcrossEpochsAndDpSizes) {
  // The uninterrupted run: 8 steps of 8 samples, 3 steps per epoch.
  DataLoader run(data(), opts(2, 2), 8, 0, 1, 9, 0);
  std::vector<std::vector<TrainBatch>> steps;
  std::vector<LoaderPosition> before;
  for (int s = 0; s < 8; ++s) {
    before.push_back(run.position());
    steps.push_back(run.next_step());
  }
  EXPECT_EQ(before[3].epoch, 1);
  EXPECT_EQ(before[3].consumed, 0);
  EXPECT_EQ(before[4].consumed, 8);
  for (int k : {1, 3, 4, 7})
    for (int prefetch : {0, 1, 3}) {
      DataLoader resumed(data(), opts(2, prefetch), 8, 0, 1, 9, 0);
      resumed.next_step();  // a different place first: seek must discard what was prefetched
      resumed.seek(before[k]);
      EXPECT_EQ(resumed.position().epoch, before[k].epoch);
      for (int s = k; s < 8; ++s)
        expect_same_step(resumed.next_step(), steps[s], "resume at " + std::to_string(k) + " step " + std::to_string(s));
    }
  // Written on 1 rank, resumed on 2 or 4 (same global batch): the same samples per step.
  for (int dp : {2, 4}) {
    auto ranks = ranks_of(dp, 1, 8, 9, opts(1, 2));
    for (auto& r : ranks) r->seek(before[4]);
    for (int s = 4; s < 8; ++s) EXPECT_EQ(union_step(ranks), ids_of(steps[s])) << "dp " << dp << " step " << s;
  }
  // And back: a position reached on 4 ranks resumes on 1.
  auto four = ranks_of(4, 1, 8, 9);
  for (int s = 0; s < 5; ++s) union_step(four);
  DataLoader back(data(), opts(2), 8, 0, 1, 9, 0);
  back.seek(four[0]->position());
  EXPECT_EQ(four[0]->position().epoch, 1);
  EXPECT_EQ(four[3]->position().consumed, 16);
  for (int s = 5; s < 8; ++s) expect_same_step(back.next_step(), steps[s], "dp 4 -> 1, step " + std::to_string(s));
}

TEST(Loader, GroupByLengthKeepsEachStepsSamplesAndCutsPadding) {
  const Split& sp = split();
  LoaderOptions g = opts(2);
  g.group_by_length = true;
  DataLoader plain(data(), opts(2), 8, 0, 1, 5, 0), grouped(data(), g, 8, 0, 1, 5, 0);
  auto grouped_dp2 = ranks_of(2, 2, 8, 5, g);
  int64_t padded_plain = 0, padded_grouped = 0;
  for (int s = 0; s < 6; ++s) {
    const auto a = plain.next_step(), b = grouped.next_step();
    const auto ia = ids_of(a), ib = ids_of(b);
    EXPECT_EQ(std::multiset<std::string>(ia.begin(), ia.end()), std::multiset<std::string>(ib.begin(), ib.end()));
    for (size_t i = 1; i < ib.size(); ++i)
      EXPECT_LE(sp.rows[sp.row_of(ib[i - 1])].ids.size(), sp.rows[sp.row_of(ib[i])].ids.size());
    EXPECT_EQ(union_step(grouped_dp2), ib);  // sorted before the DP split: independent of DP
    for (const auto& m : a) padded_plain += m.input_ids.numel();
    for (const auto& m : b) padded_grouped += m.input_ids.numel();
  }
  EXPECT_LT(padded_grouped, padded_plain);
}

TEST(Loader, PrefetchGivesBitIdenticalBatches) {
  DataLoader sync(data(), opts(3), 6, 0, 1, 21, 0), one(data(), opts(3, 1), 6, 0, 1, 21, 0),
      deep(data(), opts(3, 4), 6, 0, 1, 21, 0);
  for (int s = 0; s < 9; ++s) {
    const auto a = sync.next_step();
    expect_same_step(one.next_step(), a, "prefetch 1 step " + std::to_string(s));
    expect_same_step(deep.next_step(), a, "prefetch 4 step " + std::to_string(s));
  }
  // Destroying loaders whose thread is busy or waiting on a full queue joins cleanly.
  for (int i = 0; i < 5; ++i) DataLoader(data(), opts(1, 3), 4, 0, 1, 21, 0);
}

TEST(Loader, PrefetchThreadErrorsReachTheConsumerWithTheirMessage) {
  // Row 10 (shard 1, sample 2) refers to an image slot that does not exist.
  const Split bad = make_split({3, 8, {}, [](int r, ShardSample& x) {
                                  if (r == 10) x.media = {{MediaKind::Image, 0, 99}};
                                  if (r == 10) x.token_type[1] = x.token_type[2] = 1;
                                }, {}});
  std::string sync_msg;
  for (int prefetch : {0, 2}) {
    DataLoader l(std::make_shared<ShardDataset>(bad.str(), kSha), opts(2, prefetch, false), 4, 0, 1, 1, 0);
    l.next_step();  // samples 0..3
    l.next_step();  // 4..7
    const std::string msg = error_of([&] { l.next_step(); });  // 8..11 holds row 10
    EXPECT_HAS(msg, bad.path(1));
    EXPECT_HAS(msg, "sample 2 (dataset index 10, id 's10')");
    EXPECT_HAS(msg, "image slot 99 out of range");
    EXPECT_EQ(error_of([&] { l.next_step(); }), msg);  // it stays reported; the position does not move
    EXPECT_EQ(l.position().consumed, 8);
    if (prefetch == 0) {
      sync_msg = msg;
    } else {
      EXPECT_EQ(msg, sync_msg);  // the same message with and without the thread
    }
    l.seek({0, 0});                 // and the loader still works from a good position
    EXPECT_EQ(ids_of(l.next_step()), (std::vector<std::string>{"s0", "s1", "s2", "s3"}));
  }
}

TEST(Loader, BatchArithmeticAndPositionErrorsNameTheNumbers) {
  const std::string not_multiple = error_of([] { DataLoader(data(), opts(4), 10, 0, 1, 1, 0); });
  EXPECT_HAS(not_multiple, "global_batch_size=10 is not a multiple of dataloader.micro_batch_size=4 x DP=1");
  EXPECT_HAS(not_multiple, "2.5 accumulation steps");
  const std::string dp3 = error_of([] { DataLoader(data(), opts(2), 8, 0, 3, 1, 0); });
  EXPECT_HAS(dp3, "micro_batch_size=2 x DP=3");
  const std::string small = error_of([] { DataLoader(data(), opts(2), 32, 0, 2, 1, 0); });
  EXPECT_HAS(small, "has 24 samples, fewer than one global batch (32 = micro batch 2 x DP 2 x accumulation 8)");
  EXPECT_HAS(small, split().str());
  DataLoader l(data(), opts(2), 8, 0, 1, 1, 0);
  EXPECT_HAS(error_of([&] { l.seek({0, 3}); }), "not a multiple of the global batch 8");
  EXPECT_HAS(error_of([&] { l.seek({1, 24}); }), "past the end of an epoch (3 steps of 8 samples)");
}

TEST(Loader, OpeningASplitChecksManifestTokenizerShardOrderAndAttributes) {
  const std::string other(64, 'b');
  const std::string tok = error_of([] { ShardDataset(split().str(), std::string(64, 'b')); });
  EXPECT_HAS(tok, split().str());
  EXPECT_HAS(tok, kSha);
  EXPECT_HAS(tok, other);
  EXPECT_HAS(tok, "re-run omnitune-preprocess with this model's tokenizer");
  EXPECT_NO_THROW(ShardDataset(split().str(), ""));  // no tokenizer known: not checked
  EXPECT_HAS(error_of([] { ShardDataset("/nonexistent/split", ""); }), "/nonexistent/split has no manifest.json");

  const Split swapped = make_split({3, 8, {}, {}, {1, 0, 2}});
  const std::string order = error_of([&] { ShardDataset(swapped.str(), ""); });
  EXPECT_HAS(order, swapped.path(1) + " is shard 1 of 3");
  EXPECT_HAS(order, "lists it as shard 0 of 3");

  const Split mixed = make_split({3, 8, [](int s, ShardHeader& h) {
                                    if (s == 2) h.image_std = {0.5, 0.5, 0.5};
                                  }, {}, {}});
  const std::string attrs = error_of([&] { ShardDataset(mixed.str(), ""); });
  EXPECT_HAS(attrs, mixed.path(2) + " disagrees with " + mixed.path(0) + " on the image processor");
  const Split two_tok = make_split({2, 8, [](int s, ShardHeader& h) {
                                      if (s == 1) h.tokenizer_sha256 = std::string(64, 'c');
                                    }, {}, {}});
  EXPECT_HAS(error_of([&] { ShardDataset(two_tok.str(), ""); }), "on tokenizer_sha256");
}

TEST(Loader, DamagedShardsAreErrorsNamingTheFileAndSample) {
  // Truncated: the file cannot be opened.
  {
    const Split sp = make_split();
    const auto bytes = test_util::read_bytes(sp.path(1));
    test_util::write_bytes(sp.path(1), std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
    EXPECT_HAS(error_of([&] { ShardDataset(sp.str(), kSha); }), sp.path(1));
  }
  // Token offsets past the end of /tokens/ids (consistent with the counts, so opening succeeds).
  {
    const Split sp = make_split();
    int64_t last = 0;
    edit_int64_dataset(sp.path(1), "/samples/token_offset", [&](std::vector<int64_t>& v) { last = v.back() += 50; });
    edit_int64_attr(sp.path(1), "num_tokens", last);
    ShardDataset d(sp.str(), kSha);
    EXPECT_NO_THROW(d.sample(14, nullptr));
    const std::string msg = error_of([&] { d.sample(15, nullptr); });
    EXPECT_HAS(msg, sp.path(1) + ", sample 7 (dataset index 15)");
    EXPECT_HAS(msg, "outside /tokens/ids");
    // Through the loader (the thread), too.
    DataLoader l(std::make_shared<ShardDataset>(sp.str(), kSha), opts(8, 2, false), 8, 0, 1, 1, 0);
    l.next_step();
    EXPECT_HAS(error_of([&] { l.next_step(); }), sp.path(1) + ", sample 7 (dataset index 15)");
  }
  // Offsets that do not start at 0.
  {
    const Split sp = make_split();
    edit_int64_dataset(sp.path(2), "/samples/token_offset", [](std::vector<int64_t>& v) { v[0] = 1; });
    EXPECT_HAS(error_of([&] { ShardDataset(sp.str(), kSha); }), sp.path(2) + ": token offsets cover");
  }
  // Media offsets past the media references: the shard reader refuses the file when it opens.
  {
    const Split sp = make_split();
    edit_int64_dataset(sp.path(0), "/samples/media_offset", [](std::vector<int64_t>& v) { v[8] += 3; });
    const std::string msg = error_of([&] { ShardDataset(sp.str(), kSha); });
    EXPECT_HAS(msg, sp.path(0));
    EXPECT_HAS(msg, "/samples/media_offset ends at");
  }
  // Media references to a missing shard or slot, soft tokens without an image, audio.
  const Split refs = make_split({3, 8, {}, [](int r, ShardSample& x) {
                                   if (r == 5) x.media[0].shard = 7;
                                   if (r == 12) x.media[0].slot = 4;
                                   if (r == 17) x.media.clear();
                                   if (r == 22) x.media = {{MediaKind::Audio, 0, 0}};
                                 }, {}});
  ShardDataset d(refs.str(), kSha);
  at::Tensor px;
  const std::string shard = error_of([&] { d.sample(5, &px); });
  EXPECT_HAS(shard, refs.path(0) + ", sample 5 (dataset index 5, id 's5')");
  EXPECT_HAS(shard, "media reference to shard 7 slot 1, but the split has 3 shard(s)");
  const std::string slot = error_of([&] { d.sample(12, &px); });
  EXPECT_HAS(slot, refs.path(1) + ", sample 4 (dataset index 12, id 's12')");
  EXPECT_HAS(slot, refs.path(0) + ": image slot 4 out of range");
  EXPECT_HAS(error_of([&] { d.sample(17, &px); }), "has 2 image soft tokens for 0 image(s) of 2 tokens");
  // A clip reference without audio soft tokens (the shard stores no clip either: the run check comes first).
  EXPECT_HAS(error_of([&] { d.sample(22, &px); }), "0 run(s) of audio soft tokens (token type 3) for 1 audio clip(s)");
  EXPECT_NO_THROW(d.sample(16, &px));
}

namespace {

// The audio split, built once.
const Split& audio_split() {
  static Split s = make_split({3, 8, {}, {}, {}}, kAudio);
  return s;
}

// The clips a micro-batch must carry: every audio reference of its samples, batch-major prompt order.
std::vector<const ShardAudio*> written_clips(const Split& sp, const std::vector<std::string>& ids) {
  std::vector<const ShardAudio*> out;
  for (const std::string& id : ids)
    for (const MediaRef& m : sp.rows[sp.row_of(id)].media)
      if (m.kind == MediaKind::Audio) out.push_back(&sp.clips[m.shard][m.slot]);
  return out;
}

int64_t written_images(const Split& sp, const std::vector<std::string>& ids) {
  int64_t n = 0;
  for (const std::string& id : ids)
    for (const MediaRef& m : sp.rows[sp.row_of(id)].media) n += m.kind == MediaKind::Image;
  return n;
}

}  // namespace

TEST(LoaderAudio, BatchesCarryTheirSamplesClipsInPromptOrderZeroPaddedAndFlagged) {
  const Split& sp = audio_split();
  DataLoader l(std::make_shared<ShardDataset>(sp.str(), kSha), opts(2, 0, false), 8, 0, 1, 0, 0);
  int without_audio = 0, mixed_lengths = 0, clips_seen = 0, image_and_audio = 0;
  for (int step = 0; step < 3; ++step)
    for (const TrainBatch& b : l.next_step()) {
      const auto want = written_clips(sp, b.sample_ids);
      const int64_t images = written_images(sp, b.sample_ids);
      // Audio references never become images: pixel_values holds the images only.
      ASSERT_EQ(b.pixel_values.defined(), images > 0);
      if (images > 0) {
        EXPECT_EQ(b.pixel_values.size(0), images);
      }
      if (want.empty()) {
        EXPECT_FALSE(b.audio_features.defined());
        EXPECT_FALSE(b.audio_pad.defined());
        ++without_audio;
        continue;
      }
      image_and_audio += images > 0;
      int64_t F = 0, shortest = 1 << 30;
      for (const ShardAudio* a : want) {
        F = std::max<int64_t>(F, a->frames);
        shortest = std::min<int64_t>(shortest, a->frames);
      }
      mixed_lengths += shortest < F;
      const int64_t N = static_cast<int64_t>(want.size());
      ASSERT_TRUE(b.audio_features.defined());
      ASSERT_TRUE(b.audio_pad.defined());
      ASSERT_EQ(b.audio_features.sizes(), (at::IntArrayRef{N, F, kBins}));
      ASSERT_EQ(b.audio_pad.sizes(), (at::IntArrayRef{N, F}));
      EXPECT_EQ(b.audio_features.scalar_type(), at::kFloat);
      EXPECT_EQ(b.audio_pad.scalar_type(), at::kBool);
      const at::Tensor feat = b.audio_features.contiguous(), pad = b.audio_pad.contiguous();
      for (int64_t k = 0; k < N; ++k)
        for (int64_t f = 0; f < F; ++f) {
          const bool real = f < want[k]->frames;
          EXPECT_EQ(pad.data_ptr<bool>()[k * F + f], !real) << "clip " << k << " frame " << f;
          for (int64_t m = 0; m < kBins; ++m)
            ASSERT_EQ(feat.data_ptr<float>()[(k * F + f) * kBins + m], real ? want[k]->features[f * kBins + m] : 0.0f)
                << "clip " << k << " frame " << f << " bin " << m;
        }
      // One clip per run of audio soft tokens: the model's contract, seen from the batch.
      const at::Tensor tt = b.token_type_ids;
      const int64_t runs = ((tt == 3).logical_and(at::constant_pad_nd(tt, {1, 0}, 0).slice(1, 0, -1) != 3)).sum().item<int64_t>();
      EXPECT_EQ(runs, N);
      clips_seen += static_cast<int>(N);
    }
  EXPECT_EQ(without_audio, 4);    // rows (6k, 6k+1): an image-only and a text-only sample
  EXPECT_EQ(mixed_lengths, 8);    // every batch with clips: 3+5 frames and 7+2+5 frames
  EXPECT_EQ(image_and_audio, 8);
  EXPECT_EQ(clips_seen, 4 * 5);   // per 6 rows: 1 + 1 + 2 + 1 clips

  // Sample by sample: clips in prompt order, with their shard's values; none for other samples.
  ShardDataset d(sp.str(), kSha);
  EXPECT_EQ(d.audio_bins(), kBins);
  at::Tensor px;
  std::vector<ShardAudio> clips;
  d.sample(4, &px, &clips);  // two clips: shard 0 slot 1, then shard 2 slot 0
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(clips[0].frames, 7);
  EXPECT_EQ(clips[0].features, sp.clips[0][1].features);
  EXPECT_EQ(clips[1].frames, 2);
  EXPECT_EQ(clips[1].features, sp.clips[2][0].features);
  EXPECT_FALSE(px.defined());
  d.sample(5, &px, &clips);  // a clip before an image
  ASSERT_EQ(clips.size(), 1u);
  EXPECT_EQ(clips[0].features, sp.clips[1][0].features);
  ASSERT_TRUE(px.defined());
  EXPECT_EQ(px.size(0), 1);
  d.sample(6, &px, &clips);  // image only
  EXPECT_TRUE(clips.empty());
  EXPECT_EQ(px.size(0), 1);
  d.sample(7, nullptr, &clips);  // text only
  EXPECT_TRUE(clips.empty());
}

TEST(LoaderAudio, ResumeAndPrefetchGiveIdenticalAudioBatches) {
  const Split& sp = audio_split();
  auto ds = std::make_shared<ShardDataset>(sp.str(), kSha);
  DataLoader run(ds, opts(2, 2), 8, 0, 1, 13, 0), sync(ds, opts(2, 0), 8, 0, 1, 13, 0);
  std::vector<std::vector<TrainBatch>> steps;
  std::vector<LoaderPosition> before;
  int with_audio = 0;
  for (int s = 0; s < 7; ++s) {
    before.push_back(run.position());
    steps.push_back(run.next_step());
    expect_same_step(sync.next_step(), steps.back(), "prefetch 2 vs 0, step " + std::to_string(s));
    for (const TrainBatch& b : steps.back()) with_audio += b.audio_features.defined();
  }
  EXPECT_GT(with_audio, 0);
  EXPECT_EQ(before[3].epoch, 1);  // resumes cross an epoch end
  for (int k : {2, 3, 5})
    for (int prefetch : {0, 2}) {
      DataLoader resumed(ds, opts(2, prefetch), 8, 0, 1, 13, 0);
      resumed.next_step();
      resumed.seek(before[k]);
      for (int s = k; s < 7; ++s)
        expect_same_step(resumed.next_step(), steps[s], "resume at " + std::to_string(k) + " step " + std::to_string(s));
    }
  // On 2 ranks: each rank's batches carry exactly its samples' clips; together the DP=1 step.
  std::vector<std::string> both;
  for (int r = 0; r < 2; ++r) {
    DataLoader half(ds, opts(2), 8, r, 2, 13, 0);
    half.seek(before[4]);
    for (const TrainBatch& b : half.next_step()) {
      both.insert(both.end(), b.sample_ids.begin(), b.sample_ids.end());
      const auto want = written_clips(sp, b.sample_ids);
      ASSERT_EQ(b.audio_features.defined(), !want.empty());
      for (size_t k = 0; k < want.size(); ++k)
        EXPECT_TRUE(at::equal(b.audio_features[k].slice(0, 0, want[k]->frames).reshape(-1),
                              at::tensor(want[k]->features)));
    }
  }
  EXPECT_EQ(both, ids_of(steps[4]));
}

TEST(LoaderAudio, DamagedAudioIsAnErrorNamingTheShardAndSample) {
  const Split refs = make_split({3, 8, {}, [](int r, ShardSample& x) {
                                   if (r == 10) x.media[1].slot = 9;  // shard 2 stores one clip
                                   if (r == 14) x.media.clear();      // audio soft tokens, no clip
                                   if (r == 13) x.media = {{MediaKind::Audio, 0, 0}};  // a clip, no audio tokens
                                 }, {}}, kAudio);
  ShardDataset d(refs.str(), kSha);
  at::Tensor px;
  std::vector<ShardAudio> clips;
  const std::string slot = error_of([&] { d.sample(10, &px, &clips); });
  EXPECT_HAS(slot, refs.path(1) + ", sample 2 (dataset index 10, id 's10')");
  EXPECT_HAS(slot, refs.path(2) + ": audio slot 9 out of range");
  const std::string no_clip = error_of([&] { d.sample(14, &px, &clips); });
  EXPECT_HAS(no_clip, refs.path(1) + ", sample 6 (dataset index 14, id 's14')");
  EXPECT_HAS(no_clip, "1 run(s) of audio soft tokens (token type 3) for 0 audio clip(s)");
  EXPECT_HAS(error_of([&] { d.sample(13, &px, &clips); }), "0 run(s) of audio soft tokens (token type 3) for 1 audio clip(s)");
  EXPECT_NO_THROW(d.sample(16, &px, &clips));
  // The token/clip check holds for every caller, also one that reads tokens only.
  EXPECT_HAS(error_of([&] { d.sample(14, nullptr); }), "for 0 audio clip(s)");
  // A caller that takes images but not audio (omnitune-generate) refuses a sample with a clip
  // instead of dropping it; a tokens-only caller gets the tokens.
  EXPECT_HAS(error_of([&] { d.sample(2, &px); }), "has 1 audio clip(s), but this reader takes images only");
  EXPECT_EQ(d.sample(2, nullptr).media.size(), 1u);
  // Through the loader and its thread: the error names the shard and the sample.
  DataLoader l(std::make_shared<ShardDataset>(refs.str(), kSha), opts(4, 2, false), 8, 0, 1, 1, 0);
  l.next_step();  // samples 0..7
  const std::string msg = error_of([&] { l.next_step(); });
  EXPECT_HAS(msg, refs.path(1) + ", sample 2 (dataset index 10, id 's10')");
  EXPECT_HAS(msg, "audio slot 9 out of range");

  // A clip whose frame range is empty (frame offsets 0, 0, 10: slot 1 took slot 0's frames).
  {
    const Split sp = make_split({3, 8, {}, {}, {}}, kAudio);
    edit_int64_dataset(sp.path(0), "/audio/frame_offset", [](std::vector<int64_t>& v) { v[1] = v[0]; });
    ShardDataset e(sp.str(), kSha);
    const std::string empty = error_of([&] { e.sample(2, &px, &clips); });
    EXPECT_HAS(empty, sp.path(0) + ", sample 2 (dataset index 2, id 's2')");
    EXPECT_HAS(empty, "audio clip (" + sp.path(0) + ", audio slot 0) has no frames");
  }
  // Decreasing frame offsets: the shard reader refuses the file when the split opens.
  {
    const Split sp = make_split({3, 8, {}, {}, {}}, kAudio);
    edit_int64_dataset(sp.path(0), "/audio/frame_offset", [](std::vector<int64_t>& v) { v[1] = 11; });
    const std::string dec = error_of([&] { ShardDataset(sp.str(), kSha); });
    EXPECT_HAS(dec, sp.path(0) + ": frame offsets of audio slot 1 are not increasing");
  }
  // Clips whose mel bins differ between shards cannot share a batch: an error when the split opens.
  {
    const Split sp = make_split({3, 8, {}, {}, {}}, {true, [](int s, ShardAudio& a) {
                                                  if (s == 2) {
                                                    a.bins = 6;
                                                    a.features.assign(static_cast<size_t>(a.frames) * 6, 1.0f);
                                                  }
                                                }, {}});
    const std::string bins = error_of([&] { ShardDataset(sp.str(), kSha); });
    EXPECT_HAS(bins, sp.path(2) + " disagrees with " + sp.path(0) + " on the audio mel bins (6 vs 4)");
  }
  {
    const Split sp =
        make_split({3, 8, {}, {}, {}}, {true, {}, [](nlohmann::json& m) { m["audio"]["mel_bins"] = 128; }});
    const std::string bins = error_of([&] { ShardDataset(sp.str(), kSha); });
    EXPECT_HAS(bins, sp.path(0) + " stores audio of 4 mel bins but");
    EXPECT_HAS(bins, "says mel_bins 128");
  }
}
