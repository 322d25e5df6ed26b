// Work records: what a resumed run needs from a shard it keeps, so it never reads or decodes that
// shard's media again. Written beside each shard (shard-00003.h5 -> shard-00003.work.json) after
// the shard is final, both by atomic rename: a shard without a valid record is rewritten.
// A record holds
//   - the run's config hash and the shard's SHA-256 (the shard is kept only if both match),
//   - per row of the shard: the dedup keys of its media, or the error reading them gave
//     (the inputs to global dedup: which shard is each distinct item's home),
//   - the accept/reject decision for every media item homed in the shard (the rows of later
//     shards that use a rejected item are rejected with the same reason),
//   - the shard's statistics for the manifest (rejects, length lists, modes, truncations).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace omnitune {

// shard-00003.h5 -> shard-00003.work.json (same directory).
std::filesystem::path work_record_path(const std::filesystem::path& shard_file);

// Writes the record atomically (temporary name, then rename).
void work_record_write(const std::filesystem::path& shard_file, const nlohmann::json& record);

// The record of a shard that may be kept: present, parseable, written for this config and shard
// index, and naming the shard file's current SHA-256 (computed here: the verification). nullopt
// when any of that fails; the caller then rewrites the shard. `shard_sha256` receives the hash.
std::optional<nlohmann::json> work_record_load_verified(const std::filesystem::path& shard_file,
                                                        const std::string& config_sha256, int64_t shard_index,
                                                        int64_t num_shards, std::string& shard_sha256);

}  // namespace omnitune
