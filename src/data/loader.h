// The training data loader (issue 6): reads omnitune-preprocess shards and yields each optimizer
// step's micro-batches for this DP rank.
//
// Order: epoch e uses a permutation of all samples seeded by (seed, e) (splitmix64 + Fisher-Yates:
// the same on every machine). Global batch k of the epoch is perm[kG, (k+1)G); DP rank r takes
// the contiguous slice [rG/dp, (r+1)G/dp) and cuts it into micro-batches in order. The position
// is (epoch, samples of the epoch consumed by all ranks together), so a resume continues at the
// exact sample, also with another DP size (same G). Padding: right, to the longest sample of the
// micro-batch rounded up to pad_to_multiple; audio clips to the longest clip of the micro-batch
// (zero frames, flagged in audio_pad). A background thread prepares `prefetch` steps ahead;
// its errors surface, with their message, on the next next_step(). docs/data-format.md has the
// user-facing description.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/loader_config.h"
#include "data/shard_format.h"

namespace omnitune {

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t consumed = 0;  // samples of this epoch consumed by all ranks together (a multiple of G)
};

struct TrainBatch {
  at::Tensor input_ids;       // [B, T] int64, right-padded with pad_id
  at::Tensor targets;         // [B, T] int64: ids[t+1] where loss_mask[t+1], else -100 (last column, padding)
  at::Tensor attention_mask;  // [B, T] int64, 1 = real token
  at::Tensor token_type_ids;  // [B, T] int64 (0 text, 1 image soft token, 3 audio)
  at::Tensor pixel_values;    // [N, 3, H, W] float32 normalised, batch-major prompt order; undefined without images
  // Gemma 3n audio, one clip per audio item in batch-major prompt order (Gemma3nInputs): log-mel
  // frames [N, F, M] float32, zero past each clip's end, F = the micro-batch's longest clip, M mel
  // bins; audio_pad [N, F] bool, true = padding frame. Both undefined when no sample has audio.
  at::Tensor audio_features, audio_pad;
  int64_t num_loss_tokens = 0;  // (targets != -100).sum()
  std::vector<std::string> sample_ids;
  std::vector<int64_t> sample_indices;  // dataset index of each row
  int64_t epoch = 0;                    // the epoch these samples were drawn for
};

// Clips of one batch (batch-major, prompt order) as the model takes them: features [N, F, M]
// float32 zero-padded to the longest clip F, and audio_pad [N, F] bool (true = padding frame). The
// model masks padding by audio_pad, not by value. Every clip must have M bins.
void collate_audio(const std::vector<ShardAudio>& clips, int64_t bins, at::Tensor& features, at::Tensor& pad);

// Every shard of a split directory (manifest.json order), indexed as one dataset. Opening checks
// the schema, the shard order (media references name shards by index), the image processor
// attributes (one normalisation for the whole split) and the tokenizer hash.
class ShardDataset {
 public:
  // expected_tokenizer_sha256: the model's tokenizer.model hash ("" = not checked).
  ShardDataset(const std::string& dir, const std::string& expected_tokenizer_sha256);
  int64_t size() const { return static_cast<int64_t>(index_.size()); }
  int64_t sample_length(int64_t i) const { return lengths_.at(i); }
  // Sample i (tokens, loss mask, token types, media references) and, when `pixels` is given, its
  // images normalised to [n, 3, H, W] float32 (undefined when it has none), and when `audio` is
  // given its clips in prompt order (empty when it has none), fetched from whichever shard holds
  // them. A caller that asks for pixels but not audio cannot take a sample with audio: that is an
  // Error rather than a prompt silently missing its clips. Damaged data is an Error naming the
  // shard file and the sample.
  ShardSample sample(int64_t i, at::Tensor* pixels, std::vector<ShardAudio>* audio = nullptr) const;
  const std::string& dir() const { return dir_; }
  int64_t image_height() const { return image_height_; }
  int64_t image_width() const { return image_width_; }
  int64_t audio_bins() const { return audio_bins_; }  // mel bins of the split's clips; 0 = no audio

 private:
  // "<shard file>, sample <local> (dataset index <i>[, id <id>])" for error messages.
  std::string where(int64_t i, const std::string& id) const;
  void check_sample(const ShardSample& s) const;
  // Image processor step: uint8 HWC (1 or 3 channels) -> normalised float CHW, 3 channels.
  void normalise_image(const ShardImage& im, float* chw) const;

  std::string dir_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<std::pair<int32_t, int64_t>> index_;  // (shard, local sample)
  std::vector<int64_t> lengths_;
  int64_t image_height_ = 0, image_width_ = 0;
  int64_t tokens_per_image_ = 0;       // from the manifest; 0 = not checked
  int64_t audio_bins_ = 0;             // one value for every shard that stores clips
  std::array<std::array<float, 256>, 3> lut_{};  // per channel: uint8 value -> normalised float
};

class DataLoader {
 public:
  // global_batch_size = micro_batch_size * dp_size * gradient accumulation steps.
  DataLoader(std::shared_ptr<const ShardDataset> data, const LoaderOptions& opt, int64_t global_batch_size,
             int dp_rank, int dp_size, uint64_t seed, int64_t pad_id);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  void seek(LoaderPosition pos);        // resume; pos.consumed must be a multiple of the global batch
  std::vector<TrainBatch> next_step();  // this rank's micro-batches of the next global batch
  LoaderPosition position() const { return pos_; }  // after the last next_step()
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t grad_accum() const { return grad_accum_; }

  // The sample indices of the global batch at `pos` (all ranks), in order: tests and tools.
  std::vector<int64_t> global_batch_indices(LoaderPosition pos) const;

 private:
  struct Step {
    std::vector<TrainBatch> batches;
    LoaderPosition after;
    std::string error;  // non-empty: making this step failed (the thread stops there)
  };
  Step make_step(LoaderPosition pos) const;
  LoaderPosition advance(LoaderPosition pos) const;
  TrainBatch collate(const std::vector<int64_t>& samples) const;
  void start();
  void stop();

  std::shared_ptr<const ShardDataset> data_;
  LoaderOptions opt_;
  int64_t global_, per_rank_, grad_accum_, steps_per_epoch_;
  int dp_rank_, dp_size_;
  uint64_t seed_;
  int64_t pad_id_;
  LoaderPosition pos_;

  // The permutation of the epoch last asked for (shared by the consumer and the prefetch thread).
  mutable std::mutex perm_mu_;
  mutable int64_t perm_epoch_ = -1;
  mutable std::vector<int64_t> perm_;

  // Prefetch thread: fills queue_ with up to opt_.prefetch steps.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Step> queue_;
  bool stop_ = false;
};

}  // namespace omnitune
