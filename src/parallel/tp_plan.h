// The tensor-parallel plan for Gemma 3 and Gemma 3n decoders (DESIGN.md §5, Megatron layout), by HF
// parameter name:
//   q_proj, gate_proj, up_proj              column-parallel: rows (output features) split
//   k_proj, v_proj                          column-parallel by KV heads when tp divides them;
//                                           else the whole weight is replicated and each rank
//                                           uses the one KV head its query heads need
//   o_proj, down_proj                       row-parallel: columns (input features) split
//   embed_tokens (= tied LM head)           vocab-parallel: rows split
//   everything else (norms, towers,         replicated
//   projector, embedders; 3n: AltUp,
//   Laurel, per-layer-input weights)
// Replicated parameters that only see rank-local activations (q_norm/k_norm act on local heads,
// replicated KV weights on local heads) get partial gradients: the engine sums them over TP.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "dist/comm.h"
#include "model/gemma3_config.h"
#include "model/gemma3n_config.h"

namespace omnitune {

// What the plan needs to know of a model. Converts implicitly from either config, so call sites
// pass the model's config as they always did.
struct TpDims {
  int64_t heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  std::vector<int64_t> mlp_widths;  // each decoder layer's intermediate size
  TpDims() = default;
  TpDims(const Gemma3Config& cfg);   // NOLINT(google-explicit-constructor)
  TpDims(const Gemma3nConfig& cfg);  // NOLINT(google-explicit-constructor)
};

enum class TpSplit { Replicated, Rows, Cols };

struct TpParamPlan {
  TpSplit split = TpSplit::Replicated;
  bool partial_grad = false;  // replicated, but each rank's gradient is a partial sum over TP
};

// The TP group a model is built for. comm == nullptr means no tensor parallelism.
struct TpGroup {
  Comm* comm = nullptr;
  int rank = 0;
  int size = 1;
  static TpGroup of(Comm& c) { return TpGroup{&c, c.rank(), c.size()}; }
};

// Checks that a model can be split over tp ranks; a clear Error otherwise. Pure: the
// same answer on every rank, so a bad mesh fails everywhere before any collective.
void tp_validate(const TpDims& dims, int tp);

// How the parameter `name` (HF name) is split. tp == 1: everything replicated, no partial grads.
TpParamPlan tp_param_plan(const TpDims& dims, const std::string& name, int tp);

// The rank's shape of a parameter whose full shape is `full`.
std::vector<int64_t> tp_local_shape(const TpParamPlan& plan, const std::vector<int64_t>& full, int rank, int size);

// The rank's slice of a full tensor (a view; no copy). For loading checkpoints and for tests.
at::Tensor tp_slice(const TpParamPlan& plan, const at::Tensor& full, int rank, int size);

// Local parameter shapes of the whole model for a TP group (names unchanged).
void tp_localize_shapes(const TpDims& dims, std::vector<struct NamedParam>& params, int rank, int size);

}  // namespace omnitune
