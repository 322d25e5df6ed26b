// Shard writer and reader (schema v1). Layout:
//   /samples/{token_offset[N+1], media_offset[N+1], media_ref[R,3], source_row[N], id[N], case_id[N], mode[N]}
//   /tokens/{ids int32[T], loss_mask uint8[T], token_type uint8[T]}
//   /images/{table int64[K,2] = (channels, index), rgb uint8[K3,H,W,3], gray uint8[K1,H,W,1], sha256[K]}
//   /audio/{features float32[F,bins], frame_offset int64[A+1]}
// plus root attributes (ShardHeader).
#include "data/shard_format.h"

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "core/error.h"

namespace omnitune {

namespace {
// The header's root attributes (besides the schema version, read first, and the rescale factor,
// a 1-element list): one list for the writer and the reader.
template <typename T>
struct Attr {
  const char* name;
  T ShardHeader::*field;
};
const Attr<int64_t> kIntAttrs[] = {
    {"shard_index", &ShardHeader::shard_index},   {"num_shards", &ShardHeader::num_shards},
    {"image_height", &ShardHeader::image_height}, {"image_width", &ShardHeader::image_width},
    {"image_do_normalize", &ShardHeader::do_normalize}, {"num_samples", &ShardHeader::num_samples},
    {"num_tokens", &ShardHeader::num_tokens},     {"num_images", &ShardHeader::num_images},
    {"num_audio", &ShardHeader::num_audio}};
const Attr<std::string> kStringAttrs[] = {
    {"split", &ShardHeader::split},       {"model_family", &ShardHeader::model_family},
    {"tokenizer_sha256", &ShardHeader::tokenizer_sha256}, {"producer", &ShardHeader::producer},
    {"config_sha256", &ShardHeader::config_sha256}};
const Attr<std::vector<double>> kDoublesAttrs[] = {{"image_mean", &ShardHeader::image_mean},
                                                   {"image_std", &ShardHeader::image_std}};
}  // namespace

void shard_image_deflate(ShardImage& image, int deflate_level) {
  image.deflated = h5_deflate_row(image.pixels.data(), image.pixels.size(), deflate_level);
}

ShardWriter::ShardWriter(std::string path, ShardHeader header)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(getpid())), header_(std::move(header)) {
  file_ = h5_create(tmp_);
  images_group_ = h5_group(file_.id(), "images");
  const hsize_t H = header_.image_height, W = header_.image_width;
  rgb_ = std::make_unique<H5RowAppender>(images_group_.id(), "rgb", std::vector<hsize_t>{H, W, 3}, header_.image_deflate_level);
  gray_ = std::make_unique<H5RowAppender>(images_group_.id(), "gray", std::vector<hsize_t>{H, W, 1}, header_.image_deflate_level);
}

ShardWriter::~ShardWriter() {
  if (finished_) return;
  rgb_.reset();
  gray_.reset();
  images_group_.close();
  file_.close();
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);  // an unfinished shard leaves nothing behind
}

int64_t ShardWriter::add_image(const ShardImage& image) {
  OT_CHECK(!finished_, "add_image after finish");
  OT_CHECK(image.channels == 1 || image.channels == 3, "image channels must be 1 or 3");
  OT_CHECK(image.height == header_.image_height && image.width == header_.image_width, "image size ",
           image.width, "x", image.height, " differs from the shard's ", header_.image_width, "x", header_.image_height);
  OT_CHECK(image.pixels.size() == size_t(image.height) * image.width * image.channels, "image pixel count");
  H5RowAppender& dst = image.channels == 3 ? *rgb_ : *gray_;
  const hsize_t index = image.deflated.empty() || header_.image_deflate_level == 0 ? dst.append(image.pixels.data())
                                                                                    : dst.append_deflated(image.deflated);
  image_table_.push_back(image.channels);
  image_table_.push_back(static_cast<int64_t>(index));
  image_sha_.push_back(image.sha256);
  return static_cast<int64_t>(image_sha_.size()) - 1;
}

int64_t ShardWriter::add_audio(ShardAudio audio) {
  OT_CHECK(audio.features.size() == size_t(audio.frames) * audio.bins, "audio feature count");
  OT_CHECK(audio_.empty() || audio_[0].bins == audio.bins, "audio bins differ within a shard");
  audio_.push_back(std::move(audio));
  return static_cast<int64_t>(audio_.size()) - 1;
}

void ShardWriter::add_sample(ShardSample s) {
  OT_CHECK(s.ids.size() == s.loss_mask.size() && s.ids.size() == s.token_type.size(), "token arrays differ in length");
  samples_.push_back(std::move(s));
}

ShardHeader ShardWriter::finish() {
  OT_CHECK(!finished_, "finish called twice");
  {
    const H5Handle& f = file_;
    const int64_t N = static_cast<int64_t>(samples_.size());
    std::vector<int64_t> token_offset{0}, media_offset{0}, media_ref, source_row;
    std::vector<int32_t> ids;
    std::vector<uint8_t> loss, types;
    std::vector<std::string> sid, case_id, mode;
    for (const ShardSample& s : samples_) {
      ids.insert(ids.end(), s.ids.begin(), s.ids.end());
      loss.insert(loss.end(), s.loss_mask.begin(), s.loss_mask.end());
      types.insert(types.end(), s.token_type.begin(), s.token_type.end());
      token_offset.push_back(static_cast<int64_t>(ids.size()));
      for (const MediaRef& m : s.media) {
        media_ref.push_back(static_cast<int64_t>(m.kind));
        media_ref.push_back(m.shard);
        media_ref.push_back(m.slot);
      }
      media_offset.push_back(static_cast<int64_t>(media_ref.size() / 3));
      source_row.push_back(s.source_row);
      sid.push_back(s.id);
      case_id.push_back(s.case_id);
      mode.push_back(s.mode);
    }
    {
      H5Handle g = h5_group(f.id(), "samples");
      h5_write<int64_t>(g.id(), "token_offset", {hsize_t(N + 1)}, token_offset.data());
      h5_write<int64_t>(g.id(), "media_offset", {hsize_t(N + 1)}, media_offset.data());
      h5_write<int64_t>(g.id(), "media_ref", {hsize_t(media_ref.size() / 3), 3}, media_ref.data());
      h5_write<int64_t>(g.id(), "source_row", {hsize_t(N)}, source_row.data());
      h5_write_strings(g.id(), "id", sid);
      h5_write_strings(g.id(), "case_id", case_id);
      h5_write_strings(g.id(), "mode", mode);
    }
    {
      H5Handle g = h5_group(f.id(), "tokens");
      const hsize_t T = ids.size(), chunk = 1 << 18;
      h5_write<int32_t>(g.id(), "ids", {T}, ids.data(), chunk);
      h5_write<uint8_t>(g.id(), "loss_mask", {T}, loss.data(), chunk);
      h5_write<uint8_t>(g.id(), "token_type", {T}, types.data(), chunk);
    }
    {
      const int64_t K = static_cast<int64_t>(image_sha_.size());
      h5_write<int64_t>(images_group_.id(), "table", {hsize_t(K), 2}, image_table_.data());
      rgb_->close();
      gray_->close();
      h5_write_strings(images_group_.id(), "sha256", image_sha_);
      images_group_.close();
    }
    {
      H5Handle g = h5_group(f.id(), "audio");
      std::vector<float> feats;
      std::vector<int64_t> frame_offset{0};
      const hsize_t bins = audio_.empty() ? 0 : audio_[0].bins;
      for (const ShardAudio& a : audio_) {
        feats.insert(feats.end(), a.features.begin(), a.features.end());
        frame_offset.push_back(frame_offset.back() + a.frames);
      }
      h5_write<float>(g.id(), "features", {hsize_t(frame_offset.back()), bins}, feats.data(), 4096);
      h5_write<int64_t>(g.id(), "frame_offset", {hsize_t(frame_offset.size())}, frame_offset.data());
    }
    header_.num_samples = N;
    header_.num_tokens = static_cast<int64_t>(ids.size());
    header_.num_images = static_cast<int64_t>(image_sha_.size());
    header_.num_audio = static_cast<int64_t>(audio_.size());
    hid_t root = f.id();
    h5_attr_write(root, "omnitune_schema_version", header_.schema_version);
    for (const auto& a : kIntAttrs) h5_attr_write(root, a.name, header_.*a.field);
    for (const auto& a : kStringAttrs) h5_attr_write(root, a.name, header_.*a.field);
    for (const auto& a : kDoublesAttrs) h5_attr_write(root, a.name, header_.*a.field);
    h5_attr_write(root, "image_rescale_factor", std::vector<double>{header_.rescale_factor});
    std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
    OT_REQUIRE(H5Fflush(f.id(), H5F_SCOPE_GLOBAL) >= 0, "HDF5: flushing ", tmp_, " failed (disk full?)");
  }
  file_.close();
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  OT_REQUIRE(!ec, "cannot rename ", tmp_, " to ", path_, ": ", ec.message());
  finished_ = true;
  return header_;
}

std::unique_ptr<ShardReader> ShardReader::open(const std::string& path) {
  auto r = std::unique_ptr<ShardReader>(new ShardReader());
  r->path_ = path;
  r->file_ = h5_open_read(path);
  hid_t root = r->file_.id();
  OT_REQUIRE(h5_attr_exists(root, "omnitune_schema_version"), path, " is HDF5 but not an omnitune shard (no schema version)");
  ShardHeader& h = r->header_;
  h.schema_version = h5_attr_int(root, "omnitune_schema_version");
  OT_REQUIRE(h.schema_version == kShardSchemaVersion, path, " has shard schema version ", h.schema_version,
             " but this build reads version ", kShardSchemaVersion, ": re-run omnitune-preprocess");
  for (const auto& a : kIntAttrs) h.*a.field = h5_attr_int(root, a.name);
  for (const auto& a : kStringAttrs) h.*a.field = h5_attr_string(root, a.name);
  for (const auto& a : kDoublesAttrs) h.*a.field = h5_attr_doubles(root, a.name);
  h.rescale_factor = h5_attr_doubles(root, "image_rescale_factor").at(0);
  r->token_offset_ = h5_read_all<int64_t>(root, "/samples/token_offset");
  r->media_offset_ = h5_read_all<int64_t>(root, "/samples/media_offset");
  r->media_ref_ = h5_read_all<int64_t>(root, "/samples/media_ref");
  r->source_row_ = h5_read_all<int64_t>(root, "/samples/source_row");
  r->image_table_ = h5_read_all<int64_t>(root, "/images/table");
  r->frame_offset_ = h5_read_all<int64_t>(root, "/audio/frame_offset");
  r->ids_ = h5_read_strings(root, "/samples/id");
  r->case_ids_ = h5_read_strings(root, "/samples/case_id");
  r->modes_ = h5_read_strings(root, "/samples/mode");
  r->image_sha_ = h5_read_strings(root, "/images/sha256");
  const size_t N = static_cast<size_t>(h.num_samples);
  OT_REQUIRE(r->token_offset_.size() == N + 1 && r->media_offset_.size() == N + 1 && r->source_row_.size() == N &&
                 r->ids_.size() == N && r->token_offset_.back() == h.num_tokens &&
                 r->image_table_.size() == size_t(2 * h.num_images) && r->frame_offset_.size() == size_t(h.num_audio + 1),
             path, ": shard index datasets disagree with its counts (corrupt or truncated shard)");
  for (size_t i = 0; i < N; ++i)
    OT_REQUIRE(r->token_offset_[i] <= r->token_offset_[i + 1] && r->media_offset_[i] <= r->media_offset_[i + 1],
               path, ": offsets of sample ", i, " are not increasing (corrupt shard)");
  // The media references the offsets point into: one (kind, shard, slot) triple per reference.
  OT_REQUIRE(r->media_ref_.size() % 3 == 0 && r->media_offset_.front() == 0 &&
                 size_t(r->media_offset_.back()) == r->media_ref_.size() / 3,
             path, ": /samples/media_offset ends at ", r->media_offset_.back(), " but /samples/media_ref holds ",
             r->media_ref_.size() / 3, " references (corrupt shard)");
  // Clip a is frames [frame_offset[a], frame_offset[a+1]) of /audio/features: a decreasing offset
  // would become a huge unsigned row count on read, so the offsets are checked here, once.
  const std::vector<hsize_t> feat = h5_dims(root, "/audio/features");
  OT_REQUIRE(feat.size() == 2, path, ": /audio/features has ", feat.size(), " dimensions, expected 2 (corrupt shard)");
  for (size_t a = 0; a + 1 < r->frame_offset_.size(); ++a)
    OT_REQUIRE(r->frame_offset_[a] <= r->frame_offset_[a + 1], path, ": frame offsets of audio slot ", a,
               " are not increasing (corrupt shard)");
  OT_REQUIRE(r->frame_offset_.front() == 0 && r->frame_offset_.back() == static_cast<int64_t>(feat[0]), path,
             ": /audio/frame_offset spans [", r->frame_offset_.front(), ", ", r->frame_offset_.back(),
             ") but /audio/features holds ", feat[0], " frames (corrupt shard)");
  r->audio_bins_ = h.num_audio > 0 ? static_cast<int64_t>(feat[1]) : 0;
  return r;
}

ShardSample ShardReader::sample(int64_t i) const {
  OT_REQUIRE(i >= 0 && i < header_.num_samples, path_, ": sample ", i, " out of range (", header_.num_samples, " samples)");
  ShardSample s;
  s.id = ids_[i];
  s.case_id = case_ids_[i];
  s.mode = modes_[i];
  s.source_row = source_row_[i];
  const hsize_t b = token_offset_[i], n = token_offset_[i + 1] - b;
  std::vector<int32_t> ids;
  h5_read_rows<int32_t>(file_.id(), "/tokens/ids", b, n, ids);
  s.ids = std::move(ids);
  h5_read_rows<uint8_t>(file_.id(), "/tokens/loss_mask", b, n, s.loss_mask);
  h5_read_rows<uint8_t>(file_.id(), "/tokens/token_type", b, n, s.token_type);
  for (int64_t k = media_offset_[i]; k < media_offset_[i + 1]; ++k) {
    MediaRef m;
    m.kind = static_cast<MediaKind>(media_ref_.at(3 * k));
    m.shard = media_ref_.at(3 * k + 1);
    m.slot = media_ref_.at(3 * k + 2);
    s.media.push_back(m);
  }
  return s;
}

ShardImage ShardReader::image(int64_t slot) const {
  OT_REQUIRE(slot >= 0 && slot < header_.num_images, path_, ": image slot ", slot, " out of range (", header_.num_images, " images)");
  ShardImage im;
  im.channels = static_cast<int>(image_table_[2 * slot]);
  const int64_t index = image_table_[2 * slot + 1];
  im.height = static_cast<int>(header_.image_height);
  im.width = static_cast<int>(header_.image_width);
  im.sha256 = image_sha_[slot];
  h5_read_rows<uint8_t>(file_.id(), im.channels == 3 ? "/images/rgb" : "/images/gray", index, 1, im.pixels);
  return im;
}

ShardAudio ShardReader::audio(int64_t slot) const {
  OT_REQUIRE(slot >= 0 && slot < header_.num_audio, path_, ": audio slot ", slot, " out of range");
  ShardAudio a;
  const int64_t b = frame_offset_[slot], n = frame_offset_[slot + 1] - b;
  auto dims = h5_dims(file_.id(), "/audio/features");
  a.frames = static_cast<int>(n);
  a.bins = dims.size() == 2 ? static_cast<int>(dims[1]) : 0;
  h5_read_rows<float>(file_.id(), "/audio/features", b, n, a.features);
  return a;
}

}  // namespace omnitune
