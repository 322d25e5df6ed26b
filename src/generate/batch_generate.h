// Batch generation over a dataset (omnitune-generate --config): every rank reads the same items,
// the items are cut into batches of similar prompt length by a plan that depends only on the
// items and generate.batch_size, DP rank r answers batches r, r + dp, r + 2 dp, ..., appends them
// to its part file, and rank 0 merges all answers into one JSONL in input order and scores them.
// Because a batch never depends on the number of ranks, greedy answers are byte-identical
// whatever the rank count; a rerun regenerates only batches with missing answers (a batch is
// recomputed whole, so its numbers do not change) and writes only the missing lines.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "generate/generate_config.h"

namespace omnitune {

// Batches of item indices: items sorted by prompt length (ties in input order), cut into
// chunks of batch_size. A pure function: the same on every rank.
std::vector<std::vector<int64_t>> plan_batches(const std::vector<int64_t>& prompt_lengths, int64_t batch_size);

struct BatchGenerateOutcome {
  int64_t items = 0;          // items of the input
  int64_t already_done = 0;   // answered by an earlier run (rank 0's count)
  int64_t generated = 0;      // answered by this rank in this run
  bool complete = false;      // rank 0: the merged output was written
};

// Runs on every rank of the world (one model copy per rank: DP only). `world_rank` names the
// part file; `dp_rank`/`dp_size` pick the batches. Returns after rank 0 merged (or found answers
// missing because a stop signal cut the run short: rerun to finish).
BatchGenerateOutcome run_batch_generation(const GenerateSettings& settings, int world_rank, int dp_rank, int dp_size,
                                          const at::Device& device);

}  // namespace omnitune
