// Raw datasets as conversations. Three inputs: MedPix-VQA as Parquet in the Hugging Face layout
// (image bytes raw or as the HF {bytes, path} struct), MedPix-columns JSONL with image files, and
// HF message-list JSONL ({"messages": [{"role", "content": [{"type": "image"|"audio"|"text"}]}]}).
// Flat rows become "user: image [+ audio] + question / assistant: answer" through a column mapping.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/shard_format.h"
#include "pipeline/preprocess_config.h"
#include "tokenizer/chat_template.h"

namespace omnitune {

struct MediaSource {
  MediaKind kind = MediaKind::Image;
  std::string path;   // file to read, or "" when the bytes came with the row
  std::string bytes;  // embedded bytes (Parquet), possibly loaded only for some rows
  std::string what;   // name for messages: "row 17 image" / the path
  std::string key;    // media_key(kind, sha256 of the bytes) once hashed: the global dedup key
};

// The dedup key of one media item: its kind and the SHA-256 of its bytes ("image:<hex>",
// "audio:<hex>"), so the same bytes used as an image and as audio stay two items.
std::string media_key(MediaKind kind, const std::string& sha256);
// The SHA-256 part of a media_key.
std::string media_key_sha(const std::string& key);

struct SourceRow {
  int64_t row = 0;
  std::string id, case_id, mode;
  std::vector<ChatMessage> messages;  // media items refer to `media` in order
  std::vector<MediaSource> media;
  std::string error;                  // non-empty: the row is rejected with this reason
};

struct SourceTable {
  std::string format;  // the resolved format
  std::vector<SourceRow> rows;
};

// Loads every row (text and media references). For Parquet, embedded media bytes are kept only
// for rows where keep_bytes(row) is true, bounding memory on ranks that process a part.
SourceTable load_source(const PreprocessSettings& s, const std::function<bool(int64_t)>& keep_bytes);

// The media file/bytes of one reference, read on demand (Error naming the file if unreadable).
std::string media_bytes(const MediaSource& m);

// True when s is valid UTF-8.
bool valid_utf8(const std::string& s);

}  // namespace omnitune
