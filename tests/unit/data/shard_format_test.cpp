// Shard format v1: every field written by ShardWriter reads back identically (gray and RGB images,
// audio, cross-shard media references, metadata strings, header attributes); files appear only
// when complete; images are written as they are added (the caller's buffers can go at once, raw or
// deflated by worker threads, interleaved gray and RGB); damaged, foreign and wrong-version files
// (also audio frame offsets) are clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.h"
#include "data/shard_format.h"

using namespace omnitune;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ot_shard_" + std::to_string(getpid()) + "_" +
                                               std::to_string(reinterpret_cast<uintptr_t>(this)));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

ShardHeader header() {
  ShardHeader h;
  h.split = "train";
  h.model_family = "gemma3";
  h.tokenizer_sha256 = std::string(64, 'a');
  h.producer = "test";
  h.image_height = 6;
  h.image_width = 5;
  h.shard_index = 1;
  h.num_shards = 3;
  return h;
}

ShardImage image(int channels, uint8_t seed) {
  ShardImage im;
  im.height = 6;
  im.width = 5;
  im.channels = channels;
  im.sha256 = std::string(64, static_cast<char>('0' + seed % 10));
  for (int i = 0; i < 6 * 5 * channels; ++i) im.pixels.push_back(static_cast<uint8_t>(seed * 31 + i));
  return im;
}

ShardSample sample(int n, int64_t row) {
  ShardSample s;
  s.id = "train-" + std::to_string(row);
  s.case_id = "MPX" + std::to_string(1000 + row);
  s.mode = row % 2 ? "modality" : "diagnosis";
  s.source_row = row;
  for (int i = 0; i < n; ++i) {
    s.ids.push_back(static_cast<int32_t>(row * 100 + i));
    s.loss_mask.push_back(i >= n / 2);
    s.token_type.push_back(i == 1 ? 1 : 0);
  }
  return s;
}

}  // namespace

TEST(ShardFormat, EverythingWrittenReadsBackIdentically) {
  TempDir d;
  const std::string path = (d.path / "shard-00001.h5").string();
  ShardWriter w(path, header());
  ShardImage rgb = image(3, 1), gray = image(1, 2);
  EXPECT_EQ(w.add_image(rgb), 0);
  EXPECT_EQ(w.add_image(gray), 1);
  ShardAudio a;
  a.frames = 3;
  a.bins = 4;
  for (int i = 0; i < 12; ++i) a.features.push_back(0.5f * i - 1.0f);
  EXPECT_EQ(w.add_audio(a), 0);
  ShardSample s0 = sample(7, 10), s1 = sample(3, 11), s2 = sample(0, 12);
  s0.media = {{MediaKind::Image, 1, 0}, {MediaKind::Audio, 1, 0}};
  s1.media = {{MediaKind::Image, 0, 4}};  // stored in another shard (dedup across shards)
  w.add_sample(s0);
  w.add_sample(s1);
  w.add_sample(s2);
  ShardHeader done = w.finish();
  EXPECT_EQ(done.num_samples, 3);
  EXPECT_EQ(done.num_tokens, 10);
  EXPECT_EQ(done.num_images, 2);

  auto r = ShardReader::open(path);
  const ShardHeader& h = r->header();
  EXPECT_EQ(h.schema_version, kShardSchemaVersion);
  EXPECT_EQ(h.split, "train");
  EXPECT_EQ(h.model_family, "gemma3");
  EXPECT_EQ(h.tokenizer_sha256, std::string(64, 'a'));
  EXPECT_EQ(h.shard_index, 1);
  EXPECT_EQ(h.num_shards, 3);
  EXPECT_EQ(h.image_height, 6);
  EXPECT_EQ(h.image_width, 5);
  EXPECT_EQ(h.image_mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_DOUBLE_EQ(h.rescale_factor, 1.0 / 255.0);
  ASSERT_EQ(r->num_samples(), 3);
  for (int i = 0; i < 3; ++i) {
    const ShardSample& want = i == 0 ? s0 : i == 1 ? s1 : s2;
    ShardSample got = r->sample(i);
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.case_id, want.case_id);
    EXPECT_EQ(got.mode, want.mode);
    EXPECT_EQ(got.source_row, want.source_row);
    EXPECT_EQ(got.ids, want.ids);
    EXPECT_EQ(got.loss_mask, want.loss_mask);
    EXPECT_EQ(got.token_type, want.token_type);
    EXPECT_EQ(got.media, want.media);
    EXPECT_EQ(r->sample_tokens(i), static_cast<int64_t>(want.ids.size()));
  }
  ShardImage g0 = r->image(0), g1 = r->image(1);
  EXPECT_EQ(g0.channels, 3);
  EXPECT_EQ(g0.pixels, rgb.pixels);
  EXPECT_EQ(g0.sha256, rgb.sha256);
  EXPECT_EQ(g1.channels, 1);
  EXPECT_EQ(g1.pixels, gray.pixels);
  ShardAudio ga = r->audio(0);
  EXPECT_EQ(ga.frames, 3);
  EXPECT_EQ(ga.bins, 4);
  EXPECT_EQ(ga.features, a.features);
  EXPECT_EQ(r->audio_bins(), 4);
  EXPECT_THROW(r->sample(3), Error);
  EXPECT_THROW(r->image(2), Error);
}

TEST(ShardFormat, ImagesStreamIntoTheFileAndReadBackInSlotOrder) {
  for (int level : {0, 1, 6}) {
    TempDir d;
    const std::string path = (d.path / "s.h5").string();
    ShardHeader h = header();
    h.image_deflate_level = level;
    std::vector<std::vector<uint8_t>> want;
    std::vector<int> channels;
    {
      ShardWriter w(path, h);
      for (int i = 0; i < 40; ++i) {
        ShardImage im = image(i % 3 == 0 ? 1 : 3, static_cast<uint8_t>(i));
        // Deflated by the caller (as the pipeline's threads do) for half of them.
        if (level > 0 && i % 2 == 0) shard_image_deflate(im, level);
        EXPECT_EQ(w.add_image(im), i);
        want.push_back(im.pixels);
        channels.push_back(im.channels);
      }  // every ShardImage is gone before finish: the writer kept no pointer to it
      w.add_sample(sample(4, 0));
      EXPECT_EQ(w.finish().num_images, 40);
    }
    auto r = ShardReader::open(path);
    for (int i = 0; i < 40; ++i) {
      ShardImage got = r->image(i);
      EXPECT_EQ(got.channels, channels[i]) << "level " << level << " slot " << i;
      EXPECT_EQ(got.pixels, want[i]) << "level " << level << " slot " << i;
    }
  }
}

TEST(ShardFormat, FileAppearsOnlyWhenFinished) {
  TempDir d;
  const std::string path = (d.path / "shard-00000.h5").string();
  {
    ShardWriter w(path, header());
    w.add_image(image(3, 1));  // already in the temporary file
    w.add_sample(sample(4, 0));
    // destroyed without finish(): nothing under the final name
  }
  EXPECT_FALSE(fs::exists(path));
  ShardWriter w(path, header());
  w.add_sample(sample(4, 0));
  w.finish();
  EXPECT_TRUE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(d.path))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(ShardFormat, DamagedForeignAndMissingFilesAreClearErrors) {
  TempDir d;
  const std::string path = (d.path / "s.h5").string();
  ShardWriter w(path, header());
  w.add_image(image(3, 3));
  w.add_sample(sample(50, 1));
  w.finish();
  // Truncated copy.
  const std::string cut = (d.path / "cut.h5").string();
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  EXPECT_THROW(ShardReader::open(cut), Error);
  // Not HDF5 at all.
  const std::string junk = (d.path / "junk.h5").string();
  std::ofstream(junk) << "not an hdf5 file";
  try {
    ShardReader::open(junk);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(junk), std::string::npos) << e.what();
  }
  // HDF5, but not a shard.
  const std::string foreign = (d.path / "foreign.h5").string();
  { H5Handle f = h5_create(foreign); }
  try {
    ShardReader::open(foreign);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an omnitune shard"), std::string::npos) << e.what();
  }
  // A future schema version.
  const std::string future = (d.path / "future.h5").string();
  {
    H5Handle f = h5_create(future);
    h5_attr_write(f.id(), "omnitune_schema_version", int64_t{99});
  }
  try {
    ShardReader::open(future);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ShardReader::open((d.path / "absent.h5").string()), Error);
}

// A media offset that points past the stored references (a damaged index) is an error at open,
// naming the shard, instead of an out-of-range read on some later sample.
TEST(ShardFormat, MediaOffsetsBeyondTheReferencesAreAnErrorAtOpen) {
  TempDir d;
  const std::string path = (d.path / "s.h5").string();
  ShardWriter w(path, header());
  w.add_image(image(3, 3));
  ShardSample s = sample(5, 1);
  s.media = {{MediaKind::Image, 1, 0}};
  w.add_sample(s);
  w.finish();
  ASSERT_EQ(ShardReader::open(path)->sample(0).media.size(), 1u);
  {  // the sample now claims two references where the shard stores one
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t ds = H5Dopen2(f, "/samples/media_offset", H5P_DEFAULT);
    const int64_t offsets[2] = {0, 2};
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offsets), 0);
    H5Dclose(ds);
    H5Fclose(f);
  }
  try {
    ShardReader::open(path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("media_offset ends at 2 but /samples/media_ref holds 1"), std::string::npos) << m;
  }
}

// Audio frame offsets that decrease or do not span /audio/features are an error at open, naming the
// shard (a decreasing pair would otherwise become a huge unsigned read); a shard without clips has
// 0 mel bins.
TEST(ShardFormat, AudioFrameOffsetsAreCheckedAtOpen) {
  TempDir d;
  const std::string path = (d.path / "a.h5").string(), plain = (d.path / "p.h5").string();
  auto write = [&](const std::string& file, int clips) {
    ShardWriter w(file, header());
    for (int c = 0; c < clips; ++c) {
      ShardAudio a;
      a.frames = 2 + c;
      a.bins = 3;
      a.features.assign(static_cast<size_t>(a.frames) * 3, 0.25f * (c + 1));
      w.add_audio(a);
    }
    w.add_sample(sample(4, 1));
    w.finish();
  };
  write(path, 2);
  write(plain, 0);
  EXPECT_EQ(ShardReader::open(path)->audio_bins(), 3);
  EXPECT_EQ(ShardReader::open(path)->audio(1).frames, 3);
  EXPECT_EQ(ShardReader::open(plain)->audio_bins(), 0);
  auto set_offsets = [&](std::vector<int64_t> v) {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t ds = H5Dopen2(f, "/audio/frame_offset", H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    H5Dclose(ds);
    H5Fclose(f);
  };
  auto open_error = [&]() -> std::string {
    try {
      ShardReader::open(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  set_offsets({0, 6, 5});  // slot 1 would be frames [6, 5)
  std::string m = open_error();
  EXPECT_NE(m.find(path + ": frame offsets of audio slot 1 are not increasing"), std::string::npos) << m;
  set_offsets({0, 2, 4});  // ends before the 5 stored frames
  m = open_error();
  EXPECT_NE(m.find(path + ": /audio/frame_offset spans [0, 4) but /audio/features holds 5 frames"), std::string::npos)
      << m;
  set_offsets({0, 2, 5});  // the written offsets again
  EXPECT_EQ(open_error(), "(no error)");
}
