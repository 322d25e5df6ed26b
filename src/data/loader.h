// The training data loader (issue 6): reads omnitune-preprocess shards and yields each optimizer
// step's micro-batches for this DP rank.
//
// Order: epoch e uses a permutation of all samples seeded by (seed, e) (splitmix64 + Fisher-Yates:
// the same on every machine). Global batch k of the epoch is perm[kG, (k+1)G); DP rank r takes
// the contiguous slice [rG/dp, (r+1)G/dp) and cuts it into micro-batches in order. The position
// is (epoch, samples of the epoch consumed by all ranks together), so a resume continues at the
// exact sample, also with another DP size (same G). Padding: right, to the longest sample of the
// micro-batch rounded up to pad_to_multiple. A background thread prepares `prefetch` steps ahead;
// its errors surface, with their message, on the next next_step().
#pragma once

#include <ATen/ATen.h>

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
  int64_t consumed = 0;  // samples of this epoch consumed by all ranks together
};

struct TrainBatch {
  at::Tensor input_ids;       // [B, T] int64, right-padded with pad_id
  at::Tensor targets;         // [B, T] int64: ids[t+1] where loss_mask[t+1], else -100
  at::Tensor attention_mask;  // [B, T] int64, 1 = real token
  at::Tensor token_type_ids;  // [B, T] int64 (0 text, 1 image soft token, 3 audio)
  at::Tensor pixel_values;    // [N, 3, H, W] float32 normalised, batch-major prompt order; undefined without images
  int64_t num_loss_tokens = 0;
  std::vector<std::string> sample_ids;
};

// Every shard of a split directory (manifest.json order), indexed as one dataset.
class ShardDataset {
 public:
  // expected_tokenizer_sha256: the model's tokenizer.model hash ("" = not checked).
  ShardDataset(const std::string& dir, const std::string& expected_tokenizer_sha256);
  int64_t size() const { return static_cast<int64_t>(index_.size()); }
  int64_t sample_length(int64_t i) const { return lengths_.at(i); }
  // Sample i with its images normalised to [n, 3, H, W] float32 (undefined when none).
  ShardSample sample(int64_t i, at::Tensor* pixels) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<std::pair<int32_t, int64_t>> index_;  // (shard, local sample)
  std::vector<int64_t> lengths_;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const ShardDataset> data, const LoaderOptions& opt, int64_t global_batch_size,
             int dp_rank, int dp_size, uint64_t seed, int64_t pad_id);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  void seek(LoaderPosition pos);       // pos.consumed must be a multiple of the global batch
  std::vector<TrainBatch> next_step();  // this rank's micro-batches of the next global batch
  LoaderPosition position() const { return pos_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t grad_accum() const { return grad_accum_; }

  // The sample indices of global batch `pos` (all ranks), in order: tests and tools.
  std::vector<int64_t> global_batch_indices(LoaderPosition pos) const;

 private:
  struct Step {
    std::vector<TrainBatch> batches;
    LoaderPosition after;
    std::string error;
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

  // Prefetch thread.
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Step> queue_;
  bool stop_ = false;
};

}  // namespace omnitune
