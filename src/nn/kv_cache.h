// KV cache for generation. Full-attention layers keep every position (slot = sequence index);
// sliding layers keep a ring of `window` slots (slot = index mod window), so their memory does not
// grow with the sequence. Each step attends over [cached slots + the step's own keys] with a mask
// built from absolute sequence indices, then folds the step's keys into the cache: a prefill
// longer than the window therefore still sees its own keys in full (gemma-spec F).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace omnitune {

struct LayerKV {
  int64_t window = 0;   // 0: full attention (no ring)
  int64_t capacity = 0; // slots
  at::Tensor k, v;      // [B, kv_heads, capacity, head_dim]
  at::Tensor idx;       // [B, capacity] int64 sequence index held by each slot, -1 = empty
  at::Tensor valid;     // [B, capacity] bool: slot holds a real (non-padding) token

  // Slots worth attending to right now (full layers: the filled prefix; ring: all once wrapped).
  int64_t used = 0;
};

class KVCache {
 public:
  // One LayerKV per layer; `windows[i]` is 0 for full layers. capacity: the longest sequence
  // (prompt + new tokens) the cache must hold.
  KVCache(const std::vector<int64_t>& windows, int64_t batch, int64_t kv_heads, int64_t head_dim,
          int64_t capacity, const at::TensorOptions& options);

  LayerKV& layer(size_t i) { return layers_[i]; }
  size_t num_layers() const { return layers_.size(); }
  // Sequence index of the next token to be processed.
  int64_t length() const { return length_; }
  void advance(int64_t n) { length_ += n; }
  int64_t capacity() const { return capacity_; }
  // Bytes held by the K/V tensors (benchmarks compare ring vs full).
  int64_t bytes() const;

 private:
  std::vector<LayerKV> layers_;
  int64_t length_ = 0;
  int64_t capacity_ = 0;
};

// Keys visible to a step: returns (k, v, idx, valid) = cached slots followed by the new ones.
struct StepKV {
  at::Tensor k, v, idx, valid;
};
StepKV kv_step_keys(const LayerKV& c, const at::Tensor& k_new, const at::Tensor& v_new,
                    const at::Tensor& idx_new, const at::Tensor& valid_new);

// Writes the new keys into their slots (only the last `window` of them for a ring).
void kv_store(LayerKV& c, const at::Tensor& k_new, const at::Tensor& v_new, const at::Tensor& idx_new,
              const at::Tensor& valid_new, int64_t start);

}  // namespace omnitune
