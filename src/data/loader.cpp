#include "data/loader.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Fisher-Yates with splitmix64: identical on every platform (std::shuffle is not).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  if (!shuffle) return p;
  uint64_t s = seed * 0x100000001B3ULL + static_cast<uint64_t>(epoch) + 1;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[splitmix64(s) % static_cast<uint64_t>(i + 1)]);
  return p;
}

}  // namespace

ShardDataset::ShardDataset(const std::string& dir, const std::string& expected_sha) : dir_(dir) {
  const fs::path manifest = fs::path(dir) / "manifest.json";
  OT_REQUIRE(fs::exists(manifest), dir, " has no manifest.json: not a finished omnitune-preprocess split (run or "
             "resume omnitune-preprocess)");
  std::ifstream in(manifest);
  const nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  OT_REQUIRE(m.is_object() && m.contains("shards"), manifest.string(), " is not a valid manifest");
  OT_REQUIRE(m.value("schema_version", int64_t(-1)) == kShardSchemaVersion, manifest.string(), " has schema version ",
             m.value("schema_version", int64_t(-1)), ", this build reads ", kShardSchemaVersion,
             ": re-run omnitune-preprocess");
  for (const auto& s : m.at("shards")) {
    const std::string path = (fs::path(dir) / s.at("file").get<std::string>()).string();
    shards_.push_back(ShardReader::open(path));
    const ShardHeader& h = shards_.back()->header();
    OT_REQUIRE(expected_sha.empty() || h.tokenizer_sha256 == expected_sha, path, " was tokenized with tokenizer ",
               h.tokenizer_sha256.substr(0, 12), "..., the model's tokenizer.model is ", expected_sha.substr(0, 12),
               "...: re-run omnitune-preprocess with this model's tokenizer");
    const ShardHeader& h0 = shards_.front()->header();
    OT_REQUIRE(h.image_height == h0.image_height && h.image_width == h0.image_width && h.image_mean == h0.image_mean &&
                   h.image_std == h0.image_std && h.model_family == h0.model_family,
               path, " disagrees with ", shards_.front()->path(), " on the image processor or model family");
    for (int64_t i = 0; i < shards_.back()->num_samples(); ++i) {
      index_.emplace_back(static_cast<int32_t>(shards_.size() - 1), i);
      lengths_.push_back(shards_.back()->sample_tokens(i));
    }
  }
  OT_REQUIRE(!index_.empty(), dir, " holds no samples");
}

ShardSample ShardDataset::sample(int64_t i, at::Tensor* pixels) const {
  const auto [shard, local] = index_.at(i);
  const ShardReader& r = *shards_[shard];
  try {
    ShardSample s = r.sample(local);
    std::vector<at::Tensor> imgs;
    for (const MediaRef& ref : s.media) {
      if (ref.kind != MediaKind::Image) continue;
      OT_REQUIRE(ref.shard >= 0 && ref.shard < static_cast<int64_t>(shards_.size()), "media reference to shard ",
                 ref.shard, " of ", shards_.size());
      ShardImage im = shards_[ref.shard]->image(ref.slot);
      const ShardHeader& h = shards_[ref.shard]->header();
      at::Tensor t = at::from_blob(im.pixels.data(), {im.height, im.width, im.channels}, at::kByte)
                         .permute({2, 0, 1})
                         .to(at::kFloat);
      if (im.channels == 1) t = t.expand({3, im.height, im.width});
      t = t * h.rescale_factor;
      if (h.do_normalize) {
        at::Tensor mean = at::tensor(std::vector<double>(h.image_mean), at::kDouble).to(at::kFloat).view({3, 1, 1});
        at::Tensor stdv = at::tensor(std::vector<double>(h.image_std), at::kDouble).to(at::kFloat).view({3, 1, 1});
        t = (t - mean) / stdv;
      }
      imgs.push_back(t.contiguous());
    }
    if (pixels) *pixels = imgs.empty() ? at::Tensor() : at::stack(imgs);
    return s;
  } catch (const Error& e) {
    OT_FAIL("shard ", r.path(), ", sample ", local, ": ", e.what());
  }
}

DataLoader::DataLoader(std::shared_ptr<const ShardDataset> data, const LoaderOptions& opt, int64_t global_batch_size,
                       int dp_rank, int dp_size, uint64_t seed, int64_t pad_id)
    : data_(std::move(data)), opt_(opt), global_(global_batch_size), dp_rank_(dp_rank), dp_size_(dp_size),
      seed_(seed), pad_id_(pad_id) {
  OT_REQUIRE(global_ % (opt_.micro_batch_size * dp_size_) == 0, "step_scheduler.global_batch_size=", global_,
             " is not a multiple of dataloader.micro_batch_size=", opt_.micro_batch_size, " x DP=", dp_size_,
             ": global batch = micro batch x DP x gradient accumulation");
  per_rank_ = global_ / dp_size_;
  grad_accum_ = per_rank_ / opt_.micro_batch_size;
  OT_REQUIRE(data_->size() >= global_, data_->dir(), " has ", data_->size(), " samples, fewer than one global batch (",
             global_, " = micro batch ", opt_.micro_batch_size, " x DP ", dp_size_, " x accumulation ", grad_accum_,
             "): lower step_scheduler.global_batch_size or use fewer ranks");
  steps_per_epoch_ = opt_.drop_last ? data_->size() / global_ : (data_->size() + global_ - 1) / global_;
  start();
}

DataLoader::~DataLoader() { stop(); }

std::vector<int64_t> DataLoader::global_batch_indices(LoaderPosition pos) const {
  const std::vector<int64_t> perm = permutation(data_->size(), seed_, pos.epoch, opt_.shuffle);
  std::vector<int64_t> out;
  for (int64_t k = 0; k < global_; ++k) out.push_back(perm[(pos.consumed + k) % data_->size()]);
  if (opt_.group_by_length)
    std::stable_sort(out.begin(), out.end(),
                     [&](int64_t a, int64_t b) { return data_->sample_length(a) < data_->sample_length(b); });
  return out;
}

LoaderPosition DataLoader::advance(LoaderPosition pos) const {
  pos.consumed += global_;
  if (pos.consumed >= steps_per_epoch_ * global_) {
    ++pos.epoch;
    pos.consumed = 0;
  }
  return pos;
}

TrainBatch DataLoader::collate(const std::vector<int64_t>& samples) const {
  std::vector<ShardSample> ss;
  std::vector<at::Tensor> pixels;
  int64_t longest = 0;
  for (int64_t i : samples) {
    at::Tensor px;
    ss.push_back(data_->sample(i, &px));
    if (px.defined()) pixels.push_back(px);
    longest = std::max<int64_t>(longest, static_cast<int64_t>(ss.back().ids.size()));
  }
  const int64_t m = opt_.pad_to_multiple, T = (longest + m - 1) / m * m, B = static_cast<int64_t>(ss.size());
  TrainBatch b;
  b.input_ids = at::full({B, T}, pad_id_, at::kLong);
  b.targets = at::full({B, T}, -100, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kLong);
  b.token_type_ids = at::zeros({B, T}, at::kLong);
  for (int64_t r = 0; r < B; ++r) {
    const ShardSample& s = ss[r];
    const int64_t n = static_cast<int64_t>(s.ids.size());
    auto ids = b.input_ids.accessor<int64_t, 2>();
    auto tg = b.targets.accessor<int64_t, 2>();
    auto am = b.attention_mask.accessor<int64_t, 2>();
    auto tt = b.token_type_ids.accessor<int64_t, 2>();
    for (int64_t t = 0; t < n; ++t) {
      ids[r][t] = s.ids[t];
      am[r][t] = 1;
      tt[r][t] = s.token_type[t];
      if (t + 1 < n && s.loss_mask[t + 1]) {
        tg[r][t] = s.ids[t + 1];
        ++b.num_loss_tokens;
      }
    }
    b.sample_ids.push_back(s.id);
  }
  if (!pixels.empty()) b.pixel_values = at::cat(pixels);
  return b;
}

DataLoader::Step DataLoader::make_step(LoaderPosition pos) const {
  Step st;
  st.after = advance(pos);
  try {
    const std::vector<int64_t> all = global_batch_indices(pos);
    for (int64_t k = 0; k < grad_accum_; ++k) {
      const auto first = all.begin() + dp_rank_ * per_rank_ + k * opt_.micro_batch_size;
      st.batches.push_back(collate(std::vector<int64_t>(first, first + opt_.micro_batch_size)));
    }
  } catch (const std::exception& e) {
    st.error = e.what();
  }
  return st;
}

void DataLoader::start() {
  if (opt_.prefetch <= 0) return;
  stop_ = false;
  thread_ = std::thread([this, pos = pos_]() mutable {
    at::NoGradGuard no_grad;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < opt_.prefetch; });
        if (stop_) return;
      }
      Step st = make_step(pos);
      pos = st.after;
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(st));
      cv_.notify_all();
    }
  });
}

void DataLoader::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  queue_.clear();
}

void DataLoader::seek(LoaderPosition pos) {
  OT_REQUIRE(pos.consumed % global_ == 0 && pos.consumed >= 0, "data position ", pos.consumed,
             " is not a multiple of the global batch ", global_,
             ": resume with the step_scheduler.global_batch_size the checkpoint was written with");
  stop();
  pos_ = pos;
  start();
}

std::vector<TrainBatch> DataLoader::next_step() {
  Step st;
  if (opt_.prefetch <= 0) {
    st = make_step(pos_);
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    st = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
  }
  OT_REQUIRE(st.error.empty(), "data loader: ", st.error);
  pos_ = st.after;
  return std::move(st.batches);
}

}  // namespace omnitune
