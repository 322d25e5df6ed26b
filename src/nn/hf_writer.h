// Writing Hugging Face model directories: weights streamed into size-bounded safetensors shards
// (model.safetensors, or model-0000k-of-0000n.safetensors + model.safetensors.index.json), and the
// side files (config, tokenizer, processor) copied from a base directory. Used by omnitune-export
// and by the Gemma 3n sub-model extraction.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace omnitune {

class HfShardedWriter {
 public:
  HfShardedWriter(std::filesystem::path dir, int64_t max_shard_bytes) : dir_(std::move(dir)), max_(max_shard_bytes) {}
  // Queues a tensor; a shard is written once the next tensor would exceed the size bound.
  void add(const std::string& name, at::Tensor t);
  // Writes the last shard, names the shards and writes the index when there are several.
  void finish();
  int64_t total_bytes() const { return total_; }

 private:
  void flush();
  std::filesystem::path dir_;
  int64_t max_, bytes_ = 0, total_ = 0;
  std::vector<std::pair<std::string, at::Tensor>> pending_;
  std::vector<std::pair<std::string, std::vector<std::string>>> files_;
};

// Copies config.json, generation_config.json, tokenizer and processor files present in `base`.
// `skip` names files the caller writes itself (e.g. an edited config.json).
void hf_copy_side_files(const std::string& base, const std::filesystem::path& out,
                        const std::vector<std::string>& skip = {});

}  // namespace omnitune
