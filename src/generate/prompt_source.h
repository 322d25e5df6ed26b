// The items a batch generation answers, read identically on every rank: either a preprocessed
// split (omnitune-preprocess shards: the prompt is the sample's tokens before its first training
// target, which the chat template ends with the model-turn start; the reference is the first
// answer, decoded without its <end_of_turn>) or a JSONL file of questions with images, encoded
// with the chat template. Images are loaded only when a batch needs them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "generate/generate_config.h"
#include "generate/session.h"

namespace omnitune {

class ShardDataset;

struct PromptItem {
  std::string id, case_id, mode, question, reference;  // reference "" = none
  std::vector<int32_t> ids;         // the prompt, ending with the model-turn start
  std::vector<uint8_t> token_type;
  int64_t sample = -1;              // shard input: index of the sample in the split
  std::vector<std::string> images;  // JSONL input: image files
  std::vector<std::string> audio;   // JSONL input: audio files (Gemma 3n)
};

class PromptSource {
 public:
  PromptSource(const GenerateSettings& settings, const GenerationSession& session);
  ~PromptSource();

  const std::vector<PromptItem>& items() const { return items_; }
  // "shards" or "jsonl".
  const std::string& kind() const { return kind_; }
  // The item's tokens with its images loaded as normalised pixels.
  PromptTokens prompt(const PromptItem& item) const;

 private:
  void read_shards(const std::string& dir);
  void read_jsonl(const std::string& file, const GenerateSettings& settings);

  const GenerationSession& session_;
  std::string kind_;
  std::vector<PromptItem> items_;
  std::unique_ptr<ShardDataset> shards_;
};

}  // namespace omnitune
