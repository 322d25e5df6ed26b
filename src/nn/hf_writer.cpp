#include "nn/hf_writer.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "nn/tensor_io.h"

namespace fs = std::filesystem;

namespace omnitune {

void HfShardedWriter::add(const std::string& name, at::Tensor t) {
  const int64_t b = t.numel() * t.element_size();
  if (!pending_.empty() && bytes_ + b > max_) flush();
  pending_.emplace_back(name, std::move(t));
  bytes_ += b;
  total_ += b;
}

void HfShardedWriter::finish() {
  flush();
  const size_t n = files_.size();
  nlohmann::json index;
  index["metadata"]["total_size"] = total_;
  for (size_t i = 0; i < n; ++i) {
    char final_name[64];
    std::snprintf(final_name, sizeof final_name, n == 1 ? "model.safetensors" : "model-%05zu-of-%05zu.safetensors",
                  i + 1, n);
    fs::rename(dir_ / files_[i].first, dir_ / final_name);
    for (const auto& name : files_[i].second) index["weight_map"][name] = final_name;
  }
  if (n > 1) std::ofstream(dir_ / "model.safetensors.index.json") << index.dump(2) << "\n";
}

void HfShardedWriter::flush() {
  if (pending_.empty()) return;
  const std::string tmp = "part-" + std::to_string(files_.size()) + ".safetensors";
  safetensors_write((dir_ / tmp).string(), pending_, {{"format", "pt"}});
  std::vector<std::string> names;
  for (auto& [n, t] : pending_) names.push_back(n);
  files_.emplace_back(tmp, names);
  pending_.clear();
  bytes_ = 0;
}

void hf_copy_side_files(const std::string& base, const fs::path& out, const std::vector<std::string>& skip) {
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.model", "tokenizer.json",
                        "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
                        "processor_config.json", "chat_template.json", "chat_template.jinja"}) {
    if (std::find(skip.begin(), skip.end(), f) != skip.end()) continue;
    const fs::path src = fs::path(base) / f;
    if (fs::exists(src)) fs::copy_file(src, out / f, fs::copy_options::overwrite_existing);
  }
}

}  // namespace omnitune
