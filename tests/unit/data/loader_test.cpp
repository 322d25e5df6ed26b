// The training data loader: targets and padding, pixel normalisation, a deterministic permutation
// covering each sample once per epoch, DP slices whose union is the DP=1 batch, resume across
// epochs and across a DP change, group_by_length keeping each step's samples, prefetch giving the
// same batches, and clear errors (batch arithmetic, tokenizer mismatch, damaged shard).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/loader.h"

using namespace omnitune;
namespace fs = std::filesystem;

namespace {

const std::string kSha(64, 'a');

// A split of 2 shards x 10 samples; sample r has 5 + r % 7 tokens (ids 1000 r + t), loss on the
// second half; every third sample shows an image (gray ones in shard 1, shared across shards).
struct Split {
  fs::path dir = fs::temp_directory_path() / ("ot_loader_" + std::to_string(getpid()));
  Split() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    nlohmann::json shards = nlohmann::json::array();
    for (int s = 0; s < 2; ++s) {
      ShardHeader h;
      h.split = "train";
      h.model_family = "gemma3";
      h.tokenizer_sha256 = kSha;
      h.producer = "test";
      h.image_height = 4;
      h.image_width = 4;
      h.shard_index = s;
      h.num_shards = 2;
      const std::string name = "shard-0000" + std::to_string(s) + ".h5";
      ShardWriter w((dir / name).string(), h);
      ShardImage im;
      im.height = im.width = 4;
      im.channels = s == 0 ? 3 : 1;
      im.sha256 = std::string(64, char('0' + s));
      for (int i = 0; i < 16 * im.channels; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 15 + s));
      w.add_image(im);
      for (int k = 0; k < 10; ++k) {
        const int r = s * 10 + k, n = 5 + r % 7;
        ShardSample x;
        x.id = "s" + std::to_string(r);
        x.source_row = r;
        for (int t = 0; t < n; ++t) {
          x.ids.push_back(1000 * r + t);
          x.loss_mask.push_back(t >= n / 2);
          x.token_type.push_back(0);
        }
        if (r % 3 == 0) x.media.push_back({MediaKind::Image, r % 2 ? 1 : 0, 0});
        w.add_sample(x);
      }
      w.finish();
      shards.push_back({{"file", name}});
    }
    std::ofstream(dir / "manifest.json") << nlohmann::json{{"schema_version", kShardSchemaVersion}, {"shards", shards}}.dump();
  }
  ~Split() { fs::remove_all(dir); }
};

Split& split() {
  static Split s;
  return s;
}

std::shared_ptr<const ShardDataset> data() { return std::make_shared<ShardDataset>(split().dir.string(), kSha); }

LoaderOptions opts(int64_t micro, int64_t prefetch = 0) {
  LoaderOptions o;
  o.micro_batch_size = micro;
  o.prefetch = prefetch;
  o.pad_to_multiple = 4;
  return o;
}

// Sample ids of one step of one rank, in order.
std::vector<std::string> ids_of(const std::vector<TrainBatch>& step) {
  std::vector<std::string> out;
  for (const auto& b : step) out.insert(out.end(), b.sample_ids.begin(), b.sample_ids.end());
  return out;
}

}  // namespace

TEST(Loader, TargetsPaddingAndPixels) {
  DataLoader l(data(), opts(2), 4, 0, 1, 1, 0);
  for (int s = 0; s < 5; ++s)
    for (const TrainBatch& b : l.next_step()) {
      ASSERT_EQ(b.input_ids.size(1) % 4, 0);
      for (int64_t r = 0; r < b.input_ids.size(0); ++r) {
        const int row = std::stoi(b.sample_ids[r].substr(1)), n = 5 + row % 7;
        EXPECT_EQ(b.attention_mask[r].sum().item<int64_t>(), n);
        for (int64_t t = 0; t < b.input_ids.size(1); ++t) {
          const int64_t want_id = t < n ? 1000 * row + t : 0;
          EXPECT_EQ(b.input_ids[r][t].item<int64_t>(), want_id);
          const int64_t want_tg = (t + 1 < n && t + 1 >= n / 2) ? 1000 * row + t + 1 : -100;
          EXPECT_EQ(b.targets[r][t].item<int64_t>(), want_tg) << row << " " << t;
        }
      }
      EXPECT_EQ(b.num_loss_tokens, (b.targets != -100).sum().item<int64_t>());
      if (b.pixel_values.defined()) {
        EXPECT_EQ(b.pixel_values.size(1), 3);
        // Pixel (0,0) channel 0 of the RGB image is 0 -> (0 / 255 - 0.5) / 0.5 = -1.
        const float v = b.pixel_values[0][0][0][0].item<float>();
        EXPECT_TRUE(std::abs(v + 1.0f) < 1e-6 || std::abs(v - ((1 / 255.0f) - 0.5f) / 0.5f) < 1e-6) << v;
      }
    }
}

TEST(Loader, EpochIsAPermutationAndDeterministic) {
  DataLoader a(data(), opts(1), 4, 0, 1, 7, 0), b(data(), opts(1), 4, 0, 1, 7, 0), c(data(), opts(1), 4, 0, 1, 8, 0);
  EXPECT_EQ(a.steps_per_epoch(), 5);
  std::multiset<std::string> seen;
  std::vector<std::string> first_c;
  for (int s = 0; s < 5; ++s) {
    auto x = ids_of(a.next_step()), y = ids_of(b.next_step());
    EXPECT_EQ(x, y);
    seen.insert(x.begin(), x.end());
    auto z = ids_of(c.next_step());
    first_c.insert(first_c.end(), z.begin(), z.end());
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 20u);
  EXPECT_EQ(a.position().epoch, 1);
  EXPECT_EQ(a.position().consumed, 0);
  std::vector<std::string> all(seen.begin(), seen.end());
  EXPECT_NE(first_c, std::vector<std::string>(all));  // another seed, another order (sorted != shuffled)
}

TEST(Loader, DpSlicesUnionIsTheDp1BatchAndResumeSurvivesDpChange) {
  DataLoader one(data(), opts(1), 4, 0, 1, 3, 0);
  std::vector<std::vector<std::string>> ref;
  for (int s = 0; s < 8; ++s) ref.push_back(ids_of(one.next_step()));  // crosses an epoch
  for (int dp : {2, 4}) {
    std::vector<std::unique_ptr<DataLoader>> ranks;
    for (int r = 0; r < dp; ++r) ranks.push_back(std::make_unique<DataLoader>(data(), opts(1), 4, r, dp, 3, 0));
    for (int s = 0; s < 8; ++s) {
      std::vector<std::string> got;
      for (auto& l : ranks) {
        auto x = ids_of(l->next_step());
        EXPECT_EQ(static_cast<int>(x.size()), 4 / dp);
        got.insert(got.end(), x.begin(), x.end());
      }
      EXPECT_EQ(got, ref[s]) << "dp " << dp << " step " << s;
    }
  }
  // Resume at step 6 (epoch 1, 4 consumed) on 2 ranks: exactly the DP=1 samples of steps 6, 7.
  std::vector<std::unique_ptr<DataLoader>> ranks;
  for (int r = 0; r < 2; ++r) ranks.push_back(std::make_unique<DataLoader>(data(), opts(1, 2), 4, r, 2, 3, 0));
  for (auto& l : ranks) l->seek({1, 4});
  for (int s = 6; s < 8; ++s) {
    std::vector<std::string> got;
    for (auto& l : ranks) {
      auto x = ids_of(l->next_step());
      got.insert(got.end(), x.begin(), x.end());
    }
    EXPECT_EQ(got, ref[s]);
  }
}

TEST(Loader, GroupByLengthKeepsTheStepsSamplesAndPrefetchIsTransparent) {
  LoaderOptions g = opts(2);
  g.group_by_length = true;
  DataLoader plain(data(), opts(2), 4, 0, 1, 5, 0), grouped(data(), g, 4, 0, 1, 5, 0), pf(data(), opts(2, 3), 4, 0, 1, 5, 0);
  for (int s = 0; s < 7; ++s) {
    auto a = ids_of(plain.next_step());
    auto gb = grouped.next_step();
    auto b = ids_of(gb);
    EXPECT_EQ(std::multiset<std::string>(a.begin(), a.end()), std::multiset<std::string>(b.begin(), b.end()));
    for (size_t i = 1; i < b.size(); ++i)
      EXPECT_LE(5 + std::stoi(b[i - 1].substr(1)) % 7, 5 + std::stoi(b[i].substr(1)) % 7);
    auto c = pf.next_step();
    EXPECT_EQ(ids_of(c), a);
  }
  DataLoader x(data(), opts(2, 2), 4, 0, 1, 5, 0), y(data(), opts(2, 0), 4, 0, 1, 5, 0);
  for (int s = 0; s < 3; ++s) {
    auto p = x.next_step(), q = y.next_step();
    ASSERT_EQ(p.size(), q.size());
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_TRUE(at::equal(p[i].input_ids, q[i].input_ids));
      EXPECT_TRUE(at::equal(p[i].targets, q[i].targets));
      EXPECT_EQ(p[i].pixel_values.defined(), q[i].pixel_values.defined());
      if (p[i].pixel_values.defined()) EXPECT_TRUE(at::equal(p[i].pixel_values, q[i].pixel_values));
    }
  }
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Loader, ClearErrors) {
  EXPECT_NE(error_of([] { DataLoader(data(), opts(3), 4, 0, 1, 1, 0); }).find("is not a multiple of"), std::string::npos);
  EXPECT_NE(error_of([] { DataLoader(data(), opts(1), 24, 0, 1, 1, 0); }).find("fewer than one global batch"),
            std::string::npos);
  EXPECT_NE(error_of([] { ShardDataset(split().dir.string(), std::string(64, 'b')); })
                .find("re-run omnitune-preprocess with this model's tokenizer"),
            std::string::npos);
  EXPECT_NE(error_of([] { ShardDataset("/nonexistent", ""); }).find("no manifest.json"), std::string::npos);
  DataLoader l(data(), opts(1), 4, 0, 1, 1, 0);
  EXPECT_NE(error_of([&] { l.seek({0, 3}); }).find("not a multiple of the global batch"), std::string::npos);
  // A damaged shard: the error names the file.
  const fs::path bad = fs::temp_directory_path() / ("ot_loader_bad_" + std::to_string(getpid()));
  fs::remove_all(bad);
  fs::copy(split().dir, bad);
  {
    std::fstream f(bad / "shard-00001.h5", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f.write("garbage!", 8);
  }
  EXPECT_NE(error_of([&] { ShardDataset(bad.string(), ""); }).find("shard-00001.h5"), std::string::npos);
  fs::remove_all(bad);
}
