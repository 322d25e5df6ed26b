// The preprocessed shard format (schema version 1), shared by omnitune-preprocess (writer) and the
// trainer / generator (reader). One serial HDF5 file per shard; ragged data as flat datasets plus
// offsets (HDF5 variable-length data bypasses compression and checksums); one image per chunk,
// stored uint8 at the model's processor size, single-channel when the source was gray; the
// normalisation constants are attributes, applied at load time. docs/data-format.md specifies it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/hdf5_util.h"

namespace omnitune {

constexpr int64_t kShardSchemaVersion = 1;

enum class MediaKind : int64_t { Image = 0, Audio = 1 };

// Where a sample's image or audio lives: images are deduplicated across the whole dataset and
// stored once, in the shard of the first sample that uses them, so a reference names the shard.
struct MediaRef {
  MediaKind kind = MediaKind::Image;
  int64_t shard = 0;
  int64_t slot = 0;
  bool operator==(const MediaRef& o) const { return kind == o.kind && shard == o.shard && slot == o.slot; }
};

struct ShardImage {
  std::string sha256;  // of the source file bytes (dedup key)
  int height = 0, width = 0, channels = 3;  // channels 1 (gray source) or 3
  std::vector<uint8_t> pixels;              // HWC
  std::vector<uint8_t> deflated;            // optional: pixels compressed by shard_image_deflate
};

// Compresses an image's pixels into `deflated` at the shard's image_deflate_level (1..9), the
// chunk ShardWriter then stores as is: worker threads call it so that compression runs in
// parallel (add_image compresses otherwise, one image at a time).
void shard_image_deflate(ShardImage& image, int deflate_level);

struct ShardAudio {
  int frames = 0, bins = 0;
  std::vector<float> features;  // frames x bins
};

struct ShardSample {
  std::string id;        // stable sample id, e.g. "train-000017"
  std::string case_id;   // dataset metadata (MedPix case), may be empty
  std::string mode;      // MedPix `mode` column (question type), may be empty
  int64_t source_row = -1;
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss_mask;   // 1 = training target
  std::vector<uint8_t> token_type;  // 0 text, 1 image soft token, 3 audio soft token
  std::vector<MediaRef> media;      // in prompt order
};

struct ShardHeader {
  int64_t schema_version = kShardSchemaVersion;
  int64_t shard_index = 0, num_shards = 1;
  std::string split;            // "train", "validation", ...
  std::string model_family;     // "gemma3" | "gemma3n"
  std::string tokenizer_sha256;
  std::string producer;         // "omnitune-preprocess <version>"
  std::string config_sha256;    // of the settings that shape the content: a resumed run keeps a shard only if equal
  int64_t image_height = 0, image_width = 0;
  double rescale_factor = 1.0 / 255.0;
  int64_t do_normalize = 1;
  std::vector<double> image_mean{0.5, 0.5, 0.5}, image_std{0.5, 0.5, 0.5};
  // Writer only: 0 stores image chunks raw (the default: fastest reads), 1..9 deflates each one at
  // that zlib level (HDF5's deflate filter; readers need nothing special). Not read back.
  int image_deflate_level = 0;
  // Filled by the writer / read back by the reader.
  int64_t num_samples = 0, num_tokens = 0, num_images = 0, num_audio = 0;
};

// Writes one shard atomically: the file has a temporary name until finish() renames it into
// place, and a writer destroyed without finish() removes it, so a file under the final name is
// always complete. Images go into the file as they are added (the caller may free them at once: a
// rank holds the images it has in flight, not a shard of them); samples and audio features are
// kept and written by finish(). One caller at a time.
class ShardWriter {
 public:
  ShardWriter(std::string path, ShardHeader header);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;
  int64_t add_image(const ShardImage& image);  // returns the slot in this shard
  int64_t add_audio(ShardAudio audio);
  void add_sample(ShardSample sample);
  // Writes the rest of the file and renames it into place; returns the final header (counts filled in).
  ShardHeader finish();
  int64_t num_samples() const { return static_cast<int64_t>(samples_.size()); }

 private:
  std::string path_, tmp_;
  ShardHeader header_;
  H5Handle file_, images_group_;
  std::unique_ptr<H5RowAppender> rgb_, gray_;
  std::vector<int64_t> image_table_;  // (channels, index in rgb or gray) per slot
  std::vector<std::string> image_sha_;
  std::vector<ShardAudio> audio_;
  std::vector<ShardSample> samples_;
  bool finished_ = false;
};

// Read access to one shard. Index datasets (offsets, metadata) are loaded at open; tokens, images
// and audio are read per request.
class ShardReader {
 public:
  static std::unique_ptr<ShardReader> open(const std::string& path);
  const ShardHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  int64_t num_samples() const { return header_.num_samples; }
  // Everything about sample i (tokens, masks, metadata, media references).
  ShardSample sample(int64_t i) const;
  int64_t sample_tokens(int64_t i) const { return token_offset_.at(i + 1) - token_offset_.at(i); }
  ShardImage image(int64_t slot) const;
  ShardAudio audio(int64_t slot) const;
  // Mel bins of every clip in this shard (the width of /audio/features); 0 when it stores none.
  int64_t audio_bins() const { return audio_bins_; }

 private:
  std::string path_;
  H5Handle file_;
  ShardHeader header_;
  std::vector<int64_t> token_offset_, media_offset_, media_ref_, source_row_, image_table_, frame_offset_;
  std::vector<std::string> ids_, case_ids_, modes_, image_sha_;
  int64_t audio_bins_ = 0;
};

}  // namespace omnitune
