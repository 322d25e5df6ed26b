// Work records (see work_record.h).
#include "pipeline/work_record.h"

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/sha256.h"

namespace omnitune {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path work_record_path(const fs::path& shard_file) {
  fs::path p = shard_file;
  return p.replace_extension(".work.json");
}

void work_record_write(const fs::path& shard_file, const json& record) {
  write_text_file_atomic(work_record_path(shard_file).string(),
                         record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

std::optional<json> work_record_load_verified(const fs::path& shard_file, const std::string& config_sha256,
                                              int64_t shard_index, int64_t num_shards, std::string& shard_sha256) {
  const fs::path path = work_record_path(shard_file);
  if (!fs::exists(shard_file) || !fs::exists(path)) return std::nullopt;
  std::ifstream in(path);
  json r = json::parse(in, nullptr, false);
  if (!r.is_object() || r.value("config_sha256", "") != config_sha256 || r.value("shard", int64_t(-1)) != shard_index ||
      r.value("num_shards", int64_t(-1)) != num_shards || !r.contains("rows") || !r["rows"].is_array() ||
      !r.contains("bad") || !r["bad"].is_object() || !r.contains("stats") || !r["stats"].is_object())
    return std::nullopt;
  shard_sha256 = sha256_file(shard_file.string());
  if (r.value("shard_sha256", "") != shard_sha256) return std::nullopt;
  return r;
}

}  // namespace omnitune
