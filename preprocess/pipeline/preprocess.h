// omnitune-preprocess's pipeline: raw rows -> conversations -> token ids + loss masks, images
// decoded once per distinct image -> HDF5 shards + manifest.json + rejects.jsonl. MPI ranks split
// the shards (shard k holds rows k*N .. (k+1)*N-1 and goes to rank k mod size), so the output is
// the same whatever the number of ranks; threads inside a rank decode images and audio. A re-run
// keeps the complete shards of an earlier run and reads their work records instead of decoding
// their media again (work_record.h).
#pragma once

#include <mpi.h>

#include <string>

#include "core/config.h"
#include "pipeline/preprocess_config.h"

namespace omnitune {

struct PreprocessSummary {
  int64_t rows = 0, samples = 0, rejected = 0, shards = 0, shards_reused = 0, images = 0, audio = 0, tokens = 0;
  // Distinct media items decoded by this run, all ranks together (kept shards' media are not).
  int64_t images_decoded = 0, audio_decoded = 0;
  std::string manifest;  // path of manifest.json
};

// Collective over `comm`. `cfg` is the resolved config (recorded in the manifest).
PreprocessSummary preprocess_run(const PreprocessSettings& s, const Config& cfg, MPI_Comm comm);

}  // namespace omnitune
