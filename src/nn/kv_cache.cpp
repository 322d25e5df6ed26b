// KV cache storage. All rows of a batch share sequence indices (padding lives inside the
// sequence and is marked invalid), so slots are computed once per step.
#include "nn/kv_cache.h"

#include "core/error.h"

namespace omnitune {

KVCache::KVCache(const std::vector<int64_t>& windows, int64_t batch, int64_t kv_heads,
                 int64_t head_dim, int64_t capacity, const at::TensorOptions& options)
    : capacity_(capacity) {
  for (int64_t w : windows) {
    LayerKV c;
    c.window = w;
    c.capacity = w > 0 ? std::min(w, capacity) : capacity;
    c.k = at::zeros({batch, kv_heads, c.capacity, head_dim}, options);
    c.v = at::zeros({batch, kv_heads, c.capacity, head_dim}, options);
    c.idx = at::full({batch, c.capacity}, -1, options.dtype(at::kLong));
    c.valid = at::zeros({batch, c.capacity}, options.dtype(at::kBool));
    layers_.push_back(std::move(c));
  }
}

int64_t KVCache::bytes() const {
  int64_t b = 0;
  for (const LayerKV& c : layers_) b += (c.k.numel() + c.v.numel()) * c.k.element_size();
  return b;
}

StepKV kv_step_keys(const LayerKV& c, const at::Tensor& k_new, const at::Tensor& v_new,
                    const at::Tensor& idx_new, const at::Tensor& valid_new) {
  if (c.used == 0) return {k_new, v_new, idx_new, valid_new};
  return {at::cat({c.k.narrow(2, 0, c.used), k_new}, 2), at::cat({c.v.narrow(2, 0, c.used), v_new}, 2),
          at::cat({c.idx.narrow(1, 0, c.used), idx_new}, 1),
          at::cat({c.valid.narrow(1, 0, c.used), valid_new}, 1)};
}

void kv_store(LayerKV& c, const at::Tensor& k_new, const at::Tensor& v_new, const at::Tensor& idx_new,
              const at::Tensor& valid_new, int64_t start) {
  const int64_t T = k_new.size(2);
  OT_REQUIRE(c.window > 0 || start + T <= c.capacity, "KV cache holds ", c.capacity,
             " tokens but the sequence reached ", start + T, ": raise the generation length budget");
  // Only the last `capacity` tokens can survive in a ring; they land in at most two contiguous
  // runs of slots (before and after the wrap).
  const int64_t keep = std::min(T, c.capacity);
  int64_t t = T - keep;
  while (t < T) {
    const int64_t pos = start + t;
    const int64_t slot = c.window > 0 ? pos % c.capacity : pos;
    const int64_t n = std::min(T - t, c.capacity - slot);
    c.k.narrow(2, slot, n).copy_(k_new.narrow(2, t, n));
    c.v.narrow(2, slot, n).copy_(v_new.narrow(2, t, n));
    c.idx.narrow(1, slot, n).copy_(idx_new.narrow(1, t, n));
    c.valid.narrow(1, slot, n).copy_(valid_new.narrow(1, t, n));
    t += n;
  }
  c.used = std::min(c.capacity, start + T);
}

}  // namespace omnitune
