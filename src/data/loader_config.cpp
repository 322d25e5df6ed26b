#include "data/loader_config.h"

#include "core/error.h"

namespace omnitune {

void register_loader_config(ConfigSchema& s) {
  s.add({"dataset.shards_dir", ConfigType::String, "''", "training split written by omnitune-preprocess", {}});
  s.add({"dataset.val_shards_dir", ConfigType::String, "''", "validation split ('' = no validation)", {}});
  s.add({"dataloader.micro_batch_size", ConfigType::Int, "1", "samples per forward/backward on each rank", {}});
  s.add({"dataloader.prefetch", ConfigType::Int, "2",
         "optimizer steps of batches prepared ahead by a background thread (0 = synchronous)", {}});
  s.add({"dataloader.shuffle", ConfigType::Bool, "true", "a new seeded permutation every epoch", {}});
  s.add({"dataloader.seed", ConfigType::Int, "-1", "permutation seed; -1 = the top-level seed", {}});
  s.add({"dataloader.group_by_length", ConfigType::Bool, "false",
         "sort each global batch by length before splitting it into micro-batches (less padding; the "
         "samples of a step do not change)", {}});
  s.add({"dataloader.pad_to_multiple", ConfigType::Int, "8", "pad micro-batches to a multiple of this length", {}});
  s.add({"dataloader.drop_last", ConfigType::Bool, "true",
         "drop the last incomplete global batch of an epoch (false: fill it from the epoch's start)", {}});
}

LoaderOptions loader_options_from_config(const Config& c) {
  LoaderOptions o;
  o.micro_batch_size = c.get_int("dataloader.micro_batch_size");
  o.prefetch = c.get_int("dataloader.prefetch");
  o.shuffle = c.get_bool("dataloader.shuffle");
  o.seed = c.get_int("dataloader.seed");
  o.group_by_length = c.get_bool("dataloader.group_by_length");
  o.pad_to_multiple = c.get_int("dataloader.pad_to_multiple");
  o.drop_last = c.get_bool("dataloader.drop_last");
  OT_REQUIRE(o.micro_batch_size > 0, "dataloader.micro_batch_size must be positive");
  OT_REQUIRE(o.prefetch >= 0, "dataloader.prefetch must be >= 0");
  OT_REQUIRE(o.pad_to_multiple >= 1, "dataloader.pad_to_multiple must be >= 1");
  return o;
}

}  // namespace omnitune
