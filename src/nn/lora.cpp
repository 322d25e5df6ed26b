#include "nn/lora.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {
namespace {

// The keys of the live LoraDropoutScope (undefined = dropout off).
thread_local at::Tensor g_dropout_keys;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A 32-bit integer hash on int64 tensors holding values below 2^32. Both multipliers are below
// 2^31, so no product leaves the int64 range (signed overflow is not defined behaviour).
at::Tensor mix32(at::Tensor h) {
  constexpr int64_t kMask = 0xFFFFFFFFll;
  h = h.bitwise_xor(h.bitwise_right_shift(16));
  h = (h * int64_t(0x7feb352d)).bitwise_and(kMask);
  h = h.bitwise_xor(h.bitwise_right_shift(15));
  h = (h * int64_t(0x2c1b3c6d)).bitwise_and(kMask);
  return h.bitwise_xor(h.bitwise_right_shift(16));
}

}  // namespace

int64_t lora_dropout_key(uint64_t seed, int64_t epoch, int64_t sample_index) {
  const uint64_t k = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch) ^ splitmix64(static_cast<uint64_t>(sample_index))));
  return static_cast<int64_t>(k);
}

int64_t lora_layer_key(const std::string& module) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : module) h = (h ^ c) * 0x100000001b3ull;
  return static_cast<int64_t>(splitmix64(h));
}

LoraDropoutScope::LoraDropoutScope(at::Tensor keys) {
  OT_CHECK(!g_dropout_keys.defined(), "LoRA dropout scopes do not nest");
  OT_CHECK(keys.defined() && keys.dim() == 1 && keys.scalar_type() == at::kLong, "LoRA dropout keys must be [B] int64");
  g_dropout_keys = std::move(keys);
}

LoraDropoutScope::~LoraDropoutScope() { g_dropout_keys = at::Tensor(); }

at::Tensor lora_dropout_mask(const at::Tensor& keys, int64_t layer_key, at::IntArrayRef shape, int64_t col_offset,
                             int64_t in_full, double p, const at::TensorOptions& opt) {
  OT_CHECK(shape.size() >= 2 && keys.dim() == 1 && keys.size(0) == shape[0], "dropout mask of shape ", shape, " for ",
           keys.sizes(), " keys");
  OT_CHECK(p > 0 && p < 1, "dropout probability ", p);
  constexpr int64_t kMask = 0xFFFFFFFFll;
  const int64_t B = shape[0], cols = shape.back();
  int64_t rows = 1;
  for (size_t d = 1; d + 1 < shape.size(); ++d) rows *= shape[d];
  const auto lopt = at::TensorOptions().dtype(at::kLong).device(opt.device());
  // Per (sample, layer): two 32-bit keys. Per element: its position in the sample's full input.
  const at::Tensor kl = keys.to(lopt).bitwise_xor(layer_key);
  const at::Tensor k1 = mix32(kl.bitwise_and(kMask)).view({B, 1, 1});
  const at::Tensor k2 = mix32(kl.bitwise_right_shift(32).bitwise_and(kMask)).view({B, 1, 1});
  const at::Tensor pos = (at::arange(rows, lopt) * in_full).view({1, rows, 1}) +
                         at::arange(col_offset, col_offset + cols, lopt).view({1, 1, cols});
  const at::Tensor h1 = mix32(pos.bitwise_and(kMask).bitwise_xor(k1));
  const at::Tensor h = mix32(h1.bitwise_xor(pos.bitwise_right_shift(32).bitwise_and(kMask)).bitwise_xor(k2));
  // 24 uniform bits against p: P(drop) = round(p * 2^24) / 2^24.
  const int64_t threshold = std::llround(p * double(1 << 24));
  const at::Tensor keep = h.bitwise_right_shift(8).ge(threshold);
  return (keep.to(opt.dtype()) * (1.0 / (1.0 - p))).view(shape);
}

LoraLinear::LoraLinear(std::unique_ptr<Linear> base, const LoraOptions& opt, const LinearFactory& make_linear)
    : Linear(base->spec()), base_(std::move(base)), scale_(opt.alpha / static_cast<double>(opt.rank)),
      dropout_(opt.dropout), layer_key_(lora_layer_key(base_->spec().name)) {
  OT_REQUIRE(opt.rank > 0, "peft.dim (LoRA rank) must be positive, got ", opt.rank);
  OT_REQUIRE(opt.dropout >= 0 && opt.dropout < 1, "peft.dropout must be in [0, 1), got ", opt.dropout);
  const LinearSpec& s = spec();
  a_ = make_linear({s.name + ".lora_A", s.in_features, opt.rank, false});
  b_ = make_linear({s.name + ".lora_B", opt.rank, s.out_features, false});
}

at::Tensor LoraLinear::forward(const at::Tensor& x) const {
  at::Tensor in = x;
  if (dropout_ > 0 && g_dropout_keys.defined()) {
    OT_REQUIRE(x.dim() >= 2 && x.size(0) == g_dropout_keys.size(0), "peft.dropout: the LoRA layer ", spec().name,
               " sees an input of ", x.sizes(), " in a micro-batch of ", g_dropout_keys.size(0),
               " samples; dropout needs one input row per sample (target the language model's projections, or set "
               "peft.dropout 0)");
    in = x * lora_dropout_mask(g_dropout_keys, layer_key_, x.sizes(), base_->input_offset(), spec().in_features,
                               dropout_, x.options());
  }
  return base_->forward(x) + b_->forward(a_->forward(in)) * scale_;
}

void LoraLinear::collect_params(ParamList& out) {
  base_->collect_params(out);
  a_->collect_params(out);
  b_->collect_params(out);
}

LinearFactory lora_linear_factory(LinearFactory inner, const LoraOptions& opt,
                                  std::function<bool(const std::string& module)> matches) {
  return [inner, opt, matches](const LinearSpec& s) -> std::unique_ptr<Linear> {
    std::unique_ptr<Linear> base = inner(s);
    if (!matches(s.name)) return base;
    return std::make_unique<LoraLinear>(std::move(base), opt, inner);
  };
}

bool is_lora_param(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

}  // namespace omnitune
