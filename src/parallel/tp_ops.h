// The two conjugate tensor-parallel operators of Megatron (DESIGN.md §5), as autograd functions:
//   tp_copy   ("f"): identity forward, all-reduce of the gradient backward. Placed where a
//                    replicated activation enters rank-local (column-parallel) compute.
//   tp_reduce ("g"): all-reduce forward, identity backward. Placed where rank-local partial sums
//                    (row-parallel outputs) become a replicated activation again.
// Both are no-ops when tp is null or has one rank.
#pragma once

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace omnitune {

at::Tensor tp_copy(const at::Tensor& x, Comm* tp);
at::Tensor tp_reduce(const at::Tensor& x, Comm* tp);

}  // namespace omnitune
