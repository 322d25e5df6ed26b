// Vocabulary-parallel embedding and cross-entropy (DESIGN.md §5). Each TP rank holds the rows
// [vocab_start, vocab_start + V/tp) of the (tied) embedding table; the [tokens x V] logits are
// never materialised on one rank, and the loss is computed over token chunks so that even the
// local [chunk x V/tp] block stays small.
#pragma once

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace omnitune {

// ids [..] -> embeddings [.., D]: rows owned by this rank looked up, others zero, summed over TP.
at::Tensor vocab_parallel_embedding(const at::Tensor& table_local, const at::Tensor& ids, int64_t vocab_start,
                                    Comm* tp);

// Per-token cross-entropy [N] (fp32) of logits whose columns [vocab_start, vocab_start + V_local)
// live on this rank. targets [N] int64 with -100 = ignored (loss 0). Differentiable in
// logits_local; the backward needs no communication.
at::Tensor vocab_parallel_cross_entropy(const at::Tensor& logits_local, const at::Tensor& targets,
                                        int64_t vocab_start, Comm* tp);

}  // namespace omnitune
