// ShardDataset (a split's shards as one indexed, validated dataset) and DataLoader (seeded epoch
// permutation -> global batches -> this rank's micro-batches, collated and prefetched).
#include "data/loader.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"

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

std::string join(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += (out.empty() ? "" : ",") + str_cat(x);
  return "[" + out + "]";
}

}  // namespace

// ---- ShardDataset

ShardDataset::ShardDataset(const std::string& dir, const std::string& expected_sha) : dir_(dir) {
  const fs::path manifest = fs::path(dir) / "manifest.json";
  OT_REQUIRE(fs::exists(manifest), dir, " has no manifest.json: not a finished omnitune-preprocess split (run or "
             "resume omnitune-preprocess)");
  std::ifstream in(manifest);
  const nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  OT_REQUIRE(m.is_object() && m.contains("shards") && m["shards"].is_array(), manifest.string(),
             " is not a valid manifest (re-run omnitune-preprocess)");
  OT_REQUIRE(m.value("schema_version", int64_t(-1)) == kShardSchemaVersion, manifest.string(), " has schema version ",
             m.value("schema_version", int64_t(-1)), ", this build reads ", kShardSchemaVersion,
             ": re-run omnitune-preprocess");
  if (m.contains("image") && m["image"].is_object()) tokens_per_image_ = m["image"].value("tokens_per_image", int64_t(0));
  const int64_t manifest_mel_bins =
      m.contains("audio") && m["audio"].is_object() ? m["audio"].value("mel_bins", int64_t(0)) : 0;
  std::string audio_home;  // the first shard that stores clips: the others must match its bins
  const nlohmann::json& list = m["shards"];
  const int64_t n_shards = static_cast<int64_t>(list.size());
  for (int64_t k = 0; k < n_shards; ++k) {
    const nlohmann::json& entry = list[k];
    OT_REQUIRE(entry.is_object() && entry.contains("file") && entry["file"].is_string(), manifest.string(),
               ": shard entry ", k, " has no file name (re-run omnitune-preprocess)");
    const std::string path = (fs::path(dir) / entry["file"].get<std::string>()).string();
    OT_REQUIRE(fs::exists(path), manifest.string(), " lists ", path, ", which does not exist: copy the whole split "
               "directory, or re-run omnitune-preprocess");
    shards_.push_back(ShardReader::open(path));  // schema version and index consistency: errors name the file
    const ShardHeader& h = shards_.back()->header();
    // Media references name shards by index, so the manifest order must be the shard order.
    OT_REQUIRE(h.shard_index == k && h.num_shards == n_shards, path, " is shard ", h.shard_index, " of ",
               h.num_shards, " but ", manifest.string(), " lists it as shard ", k, " of ", n_shards,
               ": the directory mixes shards of different omnitune-preprocess runs; re-run it");
    if (entry.contains("samples"))
      OT_REQUIRE(entry["samples"].get<int64_t>() == h.num_samples, path, " holds ", h.num_samples,
                 " samples but the manifest says ", entry["samples"].get<int64_t>(),
                 ": the shard was replaced after preprocessing; re-run omnitune-preprocess");
    if (!expected_sha.empty())
      OT_REQUIRE(h.tokenizer_sha256 == expected_sha, "the shards in ", dir, " were tokenized with another tokenizer (",
                 path, " has tokenizer_sha256 ", h.tokenizer_sha256, ", the model's tokenizer.model has ",
                 expected_sha, "): re-run omnitune-preprocess with this model's tokenizer");
    // One normalisation and one tokenizer for the whole split.
    const ShardHeader& h0 = shards_.front()->header();
    const std::string other = " disagrees with " + shards_.front()->path() + " on ";
    OT_REQUIRE(h.tokenizer_sha256 == h0.tokenizer_sha256, path, other, "tokenizer_sha256 (", h.tokenizer_sha256, " vs ",
               h0.tokenizer_sha256, "): the directory mixes preprocess runs; re-run omnitune-preprocess");
    OT_REQUIRE(h.model_family == h0.model_family, path, other, "model_family (", h.model_family, " vs ",
               h0.model_family, "): re-run omnitune-preprocess");
    OT_REQUIRE(h.image_height == h0.image_height && h.image_width == h0.image_width &&
                   h.rescale_factor == h0.rescale_factor && h.do_normalize == h0.do_normalize &&
                   h.image_mean == h0.image_mean && h.image_std == h0.image_std,
               path, other, "the image processor (", h.image_width, "x", h.image_height, " rescale ", h.rescale_factor,
               " normalize ", h.do_normalize, " mean ", join(h.image_mean), " std ", join(h.image_std), " vs ",
               h0.image_width, "x", h0.image_height, " rescale ", h0.rescale_factor, " normalize ", h0.do_normalize,
               " mean ", join(h0.image_mean), " std ", join(h0.image_std), "): re-run omnitune-preprocess");
    // One mel-bin count for the whole split, so a micro-batch's clips stack into one tensor.
    const ShardReader& rd = *shards_.back();
    if (h.num_audio > 0) {
      OT_REQUIRE(rd.audio_bins() > 0, path, ": it stores ", h.num_audio, " audio clip(s) of 0 mel bins (corrupt shard; "
                 "re-run omnitune-preprocess)");
      if (audio_home.empty()) {
        audio_home = path;
        audio_bins_ = rd.audio_bins();
        OT_REQUIRE(manifest_mel_bins <= 0 || manifest_mel_bins == audio_bins_, path, " stores audio of ", audio_bins_,
                   " mel bins but ", manifest.string(), " says mel_bins ", manifest_mel_bins,
                   ": the directory mixes preprocess runs; re-run omnitune-preprocess");
      }
      OT_REQUIRE(rd.audio_bins() == audio_bins_, path, " disagrees with ", audio_home, " on the audio mel bins (",
                 rd.audio_bins(), " vs ", audio_bins_, "): the directory mixes preprocess runs; re-run "
                 "omnitune-preprocess");
    }
    // The reader checks that offsets increase and end at num_tokens; their sum checks they start at 0.
    int64_t total = 0;
    for (int64_t i = 0; i < h.num_samples; ++i) {
      const int64_t n = shards_.back()->sample_tokens(i);
      OT_REQUIRE(n > 0, path, ": sample ", i, " has no tokens (corrupt shard; re-run omnitune-preprocess)");
      total += n;
      index_.emplace_back(static_cast<int32_t>(k), i);
      lengths_.push_back(n);
    }
    OT_REQUIRE(total == h.num_tokens, path, ": token offsets cover ", total, " of ", h.num_tokens,
               " tokens (corrupt shard; re-run omnitune-preprocess)");
  }
  OT_REQUIRE(!index_.empty(), dir, " holds no samples");

  const ShardHeader& h = shards_.front()->header();
  OT_REQUIRE(h.image_mean.size() == 3 && h.image_std.size() == 3 && h.image_height > 0 && h.image_width > 0,
             shards_.front()->path(), ": image_mean/image_std need 3 values and the image size must be positive "
             "(corrupt shard; re-run omnitune-preprocess)");
  image_height_ = h.image_height;
  image_width_ = h.image_width;
  // The processor's formula in double, rounded once: the same values omnitune-generate feeds the
  // model (preprocess/media/image_processor.cpp), so training and generation see identical pixels.
  for (int c = 0; c < 3; ++c) {
    OT_REQUIRE(!h.do_normalize || h.image_std[c] != 0.0, shards_.front()->path(), ": image_std is 0 (corrupt shard)");
    for (int v = 0; v < 256; ++v) {
      double x = v * h.rescale_factor;
      if (h.do_normalize) x = (x - h.image_mean[c]) / h.image_std[c];
      lut_[c][v] = static_cast<float>(x);
    }
  }
}

std::string ShardDataset::where(int64_t i, const std::string& id) const {
  const auto [shard, local] = index_[i];
  return str_cat(shards_[shard]->path(), ", sample ", local, " (dataset index ", i,
                 id.empty() ? std::string() : ", id '" + id + "'", ")");
}

void ShardDataset::check_sample(const ShardSample& s) const {
  const size_t n = s.ids.size();
  OT_REQUIRE(s.loss_mask.size() == n && s.token_type.size() == n, "token arrays differ in length (corrupt shard)");
  // Each audio item is one run of audio soft tokens (docs/data-format.md); how many tokens a run
  // holds is the model's business (its encoder output is padded to that count), so only runs count.
  int64_t soft = 0, audio_runs = 0;
  for (size_t t = 0; t < n; ++t) {
    const int tt = s.token_type[t];
    OT_REQUIRE(tt == 0 || tt == 1 || tt == 3, "token type ", tt, " at position ", t,
               " (expected 0 text, 1 image, 3 audio; corrupt shard)");
    soft += tt == 1;
    audio_runs += tt == 3 && (t == 0 || s.token_type[t - 1] != 3);
  }
  int64_t images = 0, clips = 0;
  for (const MediaRef& ref : s.media) {
    OT_REQUIRE(ref.kind == MediaKind::Image || ref.kind == MediaKind::Audio, "media reference of unknown kind ",
               static_cast<int64_t>(ref.kind), " (corrupt shard)");
    OT_REQUIRE(ref.shard >= 0 && ref.shard < static_cast<int64_t>(shards_.size()), "media reference to shard ",
               ref.shard, " slot ", ref.slot, ", but the split has ", shards_.size(), " shard(s) (corrupt shard)");
    ++(ref.kind == MediaKind::Image ? images : clips);
  }
  OT_REQUIRE(tokens_per_image_ <= 0 || soft == images * tokens_per_image_, "the sample has ", soft,
             " image soft tokens for ", images, " image(s) of ", tokens_per_image_,
             " tokens (a damaged shard, or an image cut by truncation at preprocess.max_length)");
  OT_REQUIRE(audio_runs == clips, "the sample has ", audio_runs, " run(s) of audio soft tokens (token type 3) for ",
             clips, " audio clip(s); each clip needs exactly one run (damaged shard; re-run omnitune-preprocess)");
}

void ShardDataset::normalise_image(const ShardImage& im, float* chw) const {
  const int64_t plane = image_height_ * image_width_;
  OT_REQUIRE((im.channels == 1 || im.channels == 3) && im.height == image_height_ && im.width == image_width_ &&
                 static_cast<int64_t>(im.pixels.size()) == plane * im.channels,
             "image '", im.sha256, "' has ", im.channels, " channel(s) and ", im.pixels.size(), " bytes, expected 1 or 3 "
             "channels of ", image_width_, "x", image_height_, " (corrupt shard)");
  for (int c = 0; c < 3; ++c) {
    const float* lut = lut_[c].data();
    const uint8_t* src = im.pixels.data() + (im.channels == 3 ? c : 0);  // gray: every channel reads channel 0
    float* dst = chw + c * plane;
    for (int64_t p = 0; p < plane; ++p) dst[p] = lut[src[p * im.channels]];
  }
}

ShardSample ShardDataset::sample(int64_t i, at::Tensor* pixels, std::vector<ShardAudio>* audio) const {
  OT_REQUIRE(i >= 0 && i < size(), dir_, ": sample index ", i, " out of range (", size(), " samples)");
  const auto [shard, local] = index_[i];
  ShardSample s;
  try {
    s = shards_[shard]->sample(local);
  } catch (const std::exception& e) {  // Error from the reader, or std::out_of_range from a bad media offset
    OT_FAIL(where(i, ""), ": ", e.what());
  }
  try {
    check_sample(s);
    std::vector<MediaRef> image_refs, audio_refs;
    for (const MediaRef& ref : s.media) (ref.kind == MediaKind::Image ? image_refs : audio_refs).push_back(ref);
    OT_REQUIRE(audio_refs.empty() || audio || !pixels, "the sample has ", audio_refs.size(), " audio clip(s), but "
               "this reader takes images only (omnitune-generate does not feed audio from shards yet)");
    if (pixels) {
      *pixels = at::Tensor();
      if (!image_refs.empty()) {
        const int64_t plane = image_height_ * image_width_;
        *pixels = at::empty({static_cast<int64_t>(image_refs.size()), 3, image_height_, image_width_}, at::kFloat);
        float* dst = pixels->data_ptr<float>();
        for (size_t k = 0; k < image_refs.size(); ++k)
          normalise_image(shards_[image_refs[k].shard]->image(image_refs[k].slot), dst + k * 3 * plane);
      }
    }
    if (audio) {
      audio->clear();
      for (const MediaRef& ref : audio_refs) {
        ShardAudio a = shards_[ref.shard]->audio(ref.slot);  // a missing slot: the reader's error names its shard
        const std::string clip = str_cat("audio clip (", shards_[ref.shard]->path(), ", audio slot ", ref.slot, ")");
        OT_REQUIRE(a.frames > 0, clip, " has no frames (corrupt shard; re-run omnitune-preprocess)");
        OT_REQUIRE(a.bins == audio_bins_ && a.features.size() == static_cast<size_t>(a.frames) * a.bins, clip, " has ",
                   a.bins, " mel bins and ", a.features.size(), " values for ", a.frames, " frames; the split's clips "
                   "have ", audio_bins_, " bins (corrupt shard)");
        audio->push_back(std::move(a));
      }
    }
  } catch (const std::exception& e) {
    OT_FAIL(where(i, s.id), ": ", e.what());
  }
  return s;
}

// ---- DataLoader

DataLoader::DataLoader(std::shared_ptr<const ShardDataset> data, const LoaderOptions& opt, int64_t global_batch_size,
                       int dp_rank, int dp_size, uint64_t seed, int64_t pad_id)
    : data_(std::move(data)), opt_(opt), global_(global_batch_size), dp_rank_(dp_rank), dp_size_(dp_size),
      seed_(seed), pad_id_(pad_id) {
  OT_CHECK(data_ != nullptr);
  OT_CHECK(dp_size_ >= 1 && dp_rank_ >= 0 && dp_rank_ < dp_size_, "dp_rank ", dp_rank_, " dp_size ", dp_size_);
  OT_REQUIRE(opt_.micro_batch_size > 0, "dataloader.micro_batch_size must be positive");
  OT_REQUIRE(opt_.pad_to_multiple >= 1, "dataloader.pad_to_multiple must be >= 1");
  const int64_t md = opt_.micro_batch_size * dp_size_;
  OT_REQUIRE(global_ > 0 && global_ % md == 0, "step_scheduler.global_batch_size=", global_,
             " is not a multiple of dataloader.micro_batch_size=", opt_.micro_batch_size, " x DP=", dp_size_,
             ": global batch = micro batch x DP x gradient accumulation steps, and ", global_, "/", md, " gives ",
             static_cast<double>(global_) / static_cast<double>(md), " accumulation steps; use a multiple of ", md);
  per_rank_ = global_ / dp_size_;
  grad_accum_ = per_rank_ / opt_.micro_batch_size;
  OT_REQUIRE(data_->size() >= global_, data_->dir(), " has ", data_->size(), " samples, fewer than one global batch (",
             global_, " = micro batch ", opt_.micro_batch_size, " x DP ", dp_size_, " x accumulation ", grad_accum_,
             "): lower step_scheduler.global_batch_size or use a larger split");
  steps_per_epoch_ = opt_.drop_last ? data_->size() / global_ : (data_->size() + global_ - 1) / global_;
  start();
}

DataLoader::~DataLoader() { stop(); }

std::vector<int64_t> DataLoader::global_batch_indices(LoaderPosition pos) const {
  const int64_t n = data_->size();
  std::vector<int64_t> out(global_);
  {
    std::lock_guard<std::mutex> lock(perm_mu_);
    if (perm_epoch_ != pos.epoch) {
      perm_ = permutation(n, seed_, pos.epoch, opt_.shuffle);
      perm_epoch_ = pos.epoch;
    }
    // Without drop_last the epoch's last global batch is completed from the epoch's start.
    for (int64_t k = 0; k < global_; ++k) out[k] = perm_[(pos.consumed + k) % n];
  }
  // Grouping reorders the global batch only, so each step trains on the same samples at any DP size.
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
  std::vector<ShardAudio> clips, sample_clips;
  int64_t longest = 0;
  for (int64_t i : samples) {
    at::Tensor px;
    ss.push_back(data_->sample(i, &px, &sample_clips));
    if (px.defined()) pixels.push_back(px);
    for (ShardAudio& a : sample_clips) clips.push_back(std::move(a));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(ss.back().ids.size()));
  }
  const int64_t m = opt_.pad_to_multiple, T = (longest + m - 1) / m * m, B = static_cast<int64_t>(ss.size());
  TrainBatch b;
  b.input_ids = at::full({B, T}, pad_id_, at::kLong);
  b.targets = at::full({B, T}, -100, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kLong);
  b.token_type_ids = at::zeros({B, T}, at::kLong);
  int64_t* ids = b.input_ids.data_ptr<int64_t>();
  int64_t* tg = b.targets.data_ptr<int64_t>();
  int64_t* am = b.attention_mask.data_ptr<int64_t>();
  int64_t* tt = b.token_type_ids.data_ptr<int64_t>();
  for (int64_t r = 0; r < B; ++r) {
    const ShardSample& s = ss[r];
    const int64_t n = static_cast<int64_t>(s.ids.size()), row = r * T;
    for (int64_t t = 0; t < n; ++t) {
      ids[row + t] = s.ids[t];
      am[row + t] = 1;
      tt[row + t] = s.token_type[t];
      // The logits at t predict token t+1: it is a target when the loss mask marks it.
      if (t + 1 < n && s.loss_mask[t + 1]) {
        tg[row + t] = s.ids[t + 1];
        ++b.num_loss_tokens;
      }
    }
    b.sample_ids.push_back(s.id);
  }
  if (!pixels.empty()) b.pixel_values = pixels.size() == 1 ? pixels[0] : at::cat(pixels);
  if (!clips.empty()) collate_audio(clips, data_->audio_bins(), b.audio_features, b.audio_pad);
  return b;
}

void collate_audio(const std::vector<ShardAudio>& clips, int64_t bins, at::Tensor& features, at::Tensor& pad) {
  const int64_t N = static_cast<int64_t>(clips.size()), M = bins;
  int64_t F = 0;
  for (const ShardAudio& a : clips) F = std::max<int64_t>(F, a.frames);
  features = at::zeros({N, F, M}, at::kFloat);
  pad = at::ones({N, F}, at::kBool);
  float* feat = features.data_ptr<float>();
  bool* pd = pad.data_ptr<bool>();
  for (int64_t k = 0; k < N; ++k) {
    const ShardAudio& a = clips[k];
    OT_REQUIRE(a.bins == M && a.features.size() == static_cast<size_t>(a.frames) * M, "an audio clip has ", a.bins,
               " mel bins, the others ", M);
    std::memcpy(feat + k * F * M, a.features.data(), a.features.size() * sizeof(float));
    std::fill(pd + k * F, pd + k * F + a.frames, false);
  }
}

DataLoader::Step DataLoader::make_step(LoaderPosition pos) const {
  Step st;
  st.after = advance(pos);
  try {
    const std::vector<int64_t> all = global_batch_indices(pos);
    for (int64_t k = 0; k < grad_accum_; ++k) {
      const auto first = all.begin() + dp_rank_ * per_rank_ + k * opt_.micro_batch_size;
      std::vector<int64_t> samples(first, first + opt_.micro_batch_size);
      st.batches.push_back(collate(samples));
      st.batches.back().sample_indices = std::move(samples);
      st.batches.back().epoch = pos.epoch;
    }
  } catch (const std::exception& e) {
    st.error = e.what();
  } catch (...) {
    st.error = "unknown exception while preparing a batch";
  }
  return st;
}

void DataLoader::start() {
  if (opt_.prefetch <= 0) return;
  OT_LOG_DEBUG("data loader: a background thread prepares up to ", opt_.prefetch, " step(s) ahead from epoch ",
               pos_.epoch, ", sample ", pos_.consumed);
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
      const bool failed = !st.error.empty();
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(st));
      }
      cv_.notify_all();
      if (failed) return;  // the consumer reports it; nothing after a failed step is valid
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
  OT_REQUIRE(pos.epoch >= 0 && pos.consumed >= 0 && pos.consumed % global_ == 0, "data position (epoch ", pos.epoch,
             ", sample ", pos.consumed, "): the sample is not a multiple of the global batch ", global_,
             ": resume with the step_scheduler.global_batch_size the checkpoint was written with");
  OT_REQUIRE(pos.consumed < steps_per_epoch_ * global_, "data position (epoch ", pos.epoch, ", sample ", pos.consumed,
             ") is past the end of an epoch (", steps_per_epoch_, " steps of ", global_, " samples): ", data_->dir(),
             " has changed since the checkpoint was written (it holds ", data_->size(), " samples)");
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
    if (queue_.front().error.empty()) {  // a failed step stays at the front: every later call reports it
      st = std::move(queue_.front());
      queue_.pop_front();
    } else {
      st.error = queue_.front().error;
    }
  }
  cv_.notify_all();
  // The same message with and without prefetch; the position stays at the failed step.
  if (!st.error.empty()) throw Error(st.error);
  pos_ = st.after;
  return std::move(st.batches);
}

}  // namespace omnitune
