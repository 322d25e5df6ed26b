// Training checkpoints (issue 6): sharded, resumable on any (DP, TP) mesh, never half-picked-up.
//
//   <root>/LATEST                        name of the newest complete checkpoint
//   <root>/epoch_E_step_S/meta.json      step, epoch, data position, mesh, resolved config, metrics so
//                                        far, and the SHA-256 of every file (written last)
//   <root>/epoch_E_step_S/rank_R.safetensors
//       this rank's pieces of every trainable parameter: fp32 master weights and both AdamW moments,
//       named "<state>/<param>@<tp rank>/<tp size>+<first element>", plus the rank's RNG state
//
// A checkpoint is written into ".tmp-epoch_E_step_S", renamed when every rank has finished and
// meta.json is written, and only then named in LATEST, so a crash mid-write leaves the previous
// checkpoint in charge. Loading reassembles each parameter's full tensor from the pieces of all
// ranks and takes the slice the new mesh needs: a checkpoint written on one mesh resumes on
// another. Frozen parameters (LoRA base, frozen towers) are not saved: they come from the base
// model, as with PEFT adapters.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "dist/comm.h"
#include "parallel/sharded_adamw.h"
#include "parallel/sharded_engine.h"

namespace omnitune {

// Everything besides tensors that a resume needs.
struct TrainerState {
  int64_t step = 0;         // optimizer steps done
  int64_t epoch = 0;        // data position: epoch and samples of it consumed (all ranks)
  int64_t consumed = 0;
  int64_t optimizer_steps = 0;  // AdamW updates applied (bias correction); < step when steps were skipped
  int64_t bad_steps_in_a_row = 0;
  std::string config_yaml;  // the resolved config of the run
  nlohmann::json metrics = nlohmann::json::array();  // per-step records so far (rank 0)
};

std::string checkpoint_name(int64_t epoch, int64_t step);  // "epoch_E_step_S"

// Collective over `world`. Writes <root>/epoch_E_step_S and points LATEST at it; keeps the newest
// `keep_last` checkpoints (<= 0: all). Returns the checkpoint directory.
std::string checkpoint_save(const std::string& root, const TrainerState& state, ShardedEngine& engine,
                            const ShardedAdamW& opt, Comm& world, int keep_last);

// "auto": the checkpoint LATEST names under `root`, or "" when root holds no checkpoint at all
// (checkpoint folders without LATEST are an error naming the newest, not a fresh start).
// Otherwise `path` itself (a checkpoint directory, or a root with LATEST). Errors for anything
// incomplete.
std::string checkpoint_resolve(const std::string& root, const std::string& path);

// Collective over `world`. Verifies every file's SHA-256 (when verify), loads the trainable shards
// and optimizer moments for this engine's mesh, restores the RNG of each rank when the world size
// is unchanged, and returns the trainer state.
TrainerState checkpoint_load(const std::string& dir, ShardedEngine& engine, ShardedAdamW& opt, Comm& world,
                             bool verify = true);

}  // namespace omnitune
