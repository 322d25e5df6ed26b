// Config keys of the training data loader (dataset.*, dataloader.*) and their settings.
#pragma once

#include <cstdint>

#include "core/config.h"
#include "core/config_schema.h"

namespace omnitune {

struct LoaderOptions {
  int64_t micro_batch_size = 1;
  int64_t prefetch = 2;          // optimizer steps prepared ahead by the background thread; 0 = synchronous
  bool shuffle = true;
  int64_t seed = -1;             // -1: the run's top-level seed
  bool group_by_length = false;  // sort each global batch by length before splitting it
  int64_t pad_to_multiple = 8;
  bool drop_last = true;         // false: the last partial global batch wraps around to the epoch's start
};

void register_loader_config(ConfigSchema& schema);
LoaderOptions loader_options_from_config(const Config& cfg);

}  // namespace omnitune
