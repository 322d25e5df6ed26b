// Gemma 3 / 3n TP plan: name suffixes decide the split (the models' HF names are stable API).
#include "parallel/tp_plan.h"

#include "core/error.h"
#include "nn/params.h"

namespace omnitune {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool in_language_model(const std::string& name) {
  for (const char* tower : {"vision_tower", "multi_modal_projector", "audio_tower", "embed_vision", "embed_audio"})
    if (name.find(tower) != std::string::npos) return false;
  return true;
}

}  // namespace

TpDims::TpDims(const Gemma3Config& cfg)
    : heads(cfg.text.num_attention_heads),
      kv_heads(cfg.text.num_key_value_heads),
      head_dim(cfg.text.head_dim),
      vocab(cfg.text.vocab_size),
      mlp_widths{cfg.text.intermediate_size} {}

TpDims::TpDims(const Gemma3nConfig& cfg)
    : heads(cfg.text.num_attention_heads),
      kv_heads(cfg.text.num_key_value_heads),
      head_dim(cfg.text.head_dim),
      vocab(cfg.text.vocab_size),
      mlp_widths(cfg.text.intermediate_size) {}

void tp_validate(const TpDims& d, int tp) {
  OT_REQUIRE(tp >= 1, "distributed.tp must be at least 1, got ", tp);
  if (tp == 1) return;
  OT_REQUIRE(d.heads % tp == 0, "distributed.tp=", tp, " does not divide the model's ", d.heads,
             " query heads: choose a TP size that divides them");
  OT_REQUIRE(d.kv_heads % tp == 0 || tp % d.kv_heads == 0, "distributed.tp=", tp, " and the model's ", d.kv_heads,
             " KV heads: one must divide the other (KV heads are split, or replicated when tp exceeds them)");
  for (int64_t w : d.mlp_widths)
    OT_REQUIRE(w % tp == 0, "distributed.tp=", tp, " does not divide the MLP width ", w);
  OT_REQUIRE(d.vocab % tp == 0, "distributed.tp=", tp, " does not divide the vocabulary size ", d.vocab,
             " (the embedding and LM head are split by vocabulary rows)");
}

TpParamPlan tp_param_plan(const TpDims& cfg, const std::string& name, int tp) {
  TpParamPlan p;
  if (tp == 1 || !in_language_model(name)) return p;
  // LoRA adapters follow their base layer: a column-parallel base splits B by rows (A replicated,
  // its gradient complete thanks to B's input all-reduce); a row-parallel base splits A by columns
  // (B replicated); a replicated-KV base selects B's rows like the base (partial gradient).
  for (const char* ab : {".lora_A.weight", ".lora_B.weight"}) {
    if (!ends_with(name, ab)) continue;
    const bool is_a = ab[6] == 'A';
    const TpParamPlan base = tp_param_plan(cfg, name.substr(0, name.size() - 14) + ".weight", tp);
    if (base.split == TpSplit::Rows && !is_a) p.split = TpSplit::Rows;
    if (base.split == TpSplit::Cols && is_a) p.split = TpSplit::Cols;
    if (base.partial_grad && !is_a) p.partial_grad = true;
    return p;
  }
  const bool kv_split = cfg.kv_heads % tp == 0;
  if (ends_with(name, "q_proj.weight") || ends_with(name, "gate_proj.weight") || ends_with(name, "up_proj.weight") ||
      ends_with(name, "q_proj.bias")) {
    p.split = TpSplit::Rows;
  } else if (ends_with(name, "k_proj.weight") || ends_with(name, "v_proj.weight") ||
             ends_with(name, "k_proj.bias") || ends_with(name, "v_proj.bias")) {
    if (kv_split) p.split = TpSplit::Rows;
    else p.partial_grad = true;
  } else if (ends_with(name, "o_proj.weight") || ends_with(name, "down_proj.weight")) {
    p.split = TpSplit::Cols;
  } else if (ends_with(name, "embed_tokens.weight")) {
    p.split = TpSplit::Rows;
  } else if (ends_with(name, "q_norm.weight") || ends_with(name, "k_norm.weight")) {
    p.partial_grad = true;
  }
  return p;
}

std::vector<int64_t> tp_local_shape(const TpParamPlan& plan, const std::vector<int64_t>& full, int rank, int size) {
  (void)rank;
  std::vector<int64_t> s = full;
  if (plan.split == TpSplit::Replicated || size == 1) return s;
  const size_t dim = plan.split == TpSplit::Rows ? 0 : 1;
  OT_CHECK(s.size() > dim && s[dim] % size == 0, "tp split of dim ", dim, " by ", size);
  s[dim] /= size;
  return s;
}

at::Tensor tp_slice(const TpParamPlan& plan, const at::Tensor& full, int rank, int size) {
  if (plan.split == TpSplit::Replicated || size == 1) return full;
  const int64_t dim = plan.split == TpSplit::Rows ? 0 : 1;
  const int64_t n = full.size(dim) / size;
  return full.narrow(dim, rank * n, n);
}

void tp_localize_shapes(const TpDims& cfg, ParamList& params, int rank, int size) {
  for (auto& p : params) p.shape = tp_local_shape(tp_param_plan(cfg, p.name, size), p.shape, rank, size);
}

}  // namespace omnitune
