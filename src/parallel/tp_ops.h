// The two conjugate tensor-parallel operators of Megatron (DESIGN.md §5), as autograd functions:
//   tp_copy   ("f"): identity forward, all-reduce of the gradient backward. Placed where a
//                    replicated activation enters rank-local (column-parallel) compute.
//   tp_reduce ("g"): all-reduce forward, identity backward. Placed where rank-local partial sums
//                    (row-parallel outputs) become a replicated activation again.
//   tp_sum            : all-reduce forward AND backward. For a statistic summed over features
//                    split across ranks (Gemma 3n's sparsity mean/std over the MLP width) whose
//                    result feeds rank-local compute again: every rank's share of the gradient
//                    must reach every rank.
// All are no-ops when tp is null or has one rank.
#pragma once

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace omnitune {

at::Tensor tp_copy(const at::Tensor& x, Comm* tp);
at::Tensor tp_reduce(const at::Tensor& x, Comm* tp);
at::Tensor tp_sum(const at::Tensor& x, Comm* tp);

}  // namespace omnitune
