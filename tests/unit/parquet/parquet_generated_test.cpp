// Compares every value of every row of the files make_test_parquet.mjs writes (DuckDB-written and
// hand-assembled: every codec, many row groups, NULLs, HF image structs, data page v2, DELTA and
// BYTE_STREAM_SPLIT encodings, dictionary-to-PLAIN fallback) with the values the script wrote
// down, checks the page layout that proves each file covers its feature, and byte-flips the
// hand-made files. The data directory comes from OMNITUNE_PARQUET_TEST_DATA (set by ctest).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/sha256.h"
#include "parquet/parquet_file.h"

namespace omnitune::parquet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string data_dir() {
  const char* dir = std::getenv("OMNITUNE_PARQUET_TEST_DATA");
  if (!dir || !*dir)
    throw std::runtime_error(
        "OMNITUNE_PARQUET_TEST_DATA is not set: run this test through ctest, whose "
        "parquet_make_test_data fixture writes the files, or run "
        "`node tests/unit/parquet/make_test_parquet.mjs DIR` and point the variable at DIR");
  return dir;
}

json load_expected(const std::string& name) {
  const std::string p = data_dir() + "/" + name + ".json";
  std::ifstream in(p);
  if (!in) throw std::runtime_error("missing generated test file " + p);
  return json::parse(in);
}

std::string hex_decode(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string show(const std::string& bytes) {
  return bytes.size() > 40 ? to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), 20) + "... (" +
                                 std::to_string(bytes.size()) + " bytes)"
                           : to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Checks row `i` of `d` (row `row` of the file) against the expected JSON value; returns a
// mismatch description or "".
std::string compare(const ColumnData& d, size_t i, const json& want) {
  if (want.is_null()) {
    if (d.valid[i]) return "expected null, got a value";
    const bool zero = (!d.ints.empty() && d.ints[i] == 0) || (!d.floats.empty() && d.floats[i] == 0) ||
                      (!d.bytes.empty() && d.bytes[i].empty());
    return zero ? "" : "null row holds a non-zero value";
  }
  if (!d.valid[i]) return "expected " + want.dump() + ", got null";
  switch (d.type) {
    case PhysicalType::Boolean:
      return d.ints[i] == (want.get<bool>() ? 1 : 0) ? "" : "got " + std::to_string(d.ints[i]);
    case PhysicalType::Int32:
    case PhysicalType::Int64:
      return d.ints[i] == std::stoll(want.get<std::string>()) ? "" : "got " + std::to_string(d.ints[i]);
    case PhysicalType::Float:
    case PhysicalType::Double: {
      const double got = d.floats[i];
      if (want.is_string()) {
        const std::string s = want.get<std::string>();
        const bool ok = s == "nan" ? std::isnan(got) : s == "inf" ? got == INFINITY : got == -INFINITY;
        return ok ? "" : "got " + std::to_string(got);
      }
      return got == want.get<double>() ? "" : "got " + std::to_string(got);
    }
    default: {
      const std::string& got = d.bytes[i];
      if (want.is_object()) {
        const bool ok = got.size() == want.at("size").get<size_t>() &&
                        sha256_hex(got) == want.at("sha256").get<std::string>();
        return ok ? "" : "got " + show(got) + ", want sha256 " + want.at("sha256").get<std::string>();
      }
      const std::string w = hex_decode(want.get<std::string>());
      return got == w ? "" : "got " + show(got) + ", want " + show(w);
    }
  }
}

void expect_column(const ParquetFile& f, const json& col) {
  const std::string path = col.at("path");
  SCOPED_TRACE("column " + path);
  const int idx = f.column_index(path);
  ASSERT_GE(idx, 0);
  const ColumnInfo& info = f.columns()[static_cast<size_t>(idx)];
  EXPECT_EQ(physical_type_name(info.type), col.at("type").get<std::string>());
  EXPECT_EQ(info.is_string, col.at("is_string").get<bool>());
  EXPECT_EQ(info.max_def_level, col.at("max_def_level").get<int>());
  const json& values = col.at("values");
  ASSERT_EQ(static_cast<int64_t>(values.size()), f.num_rows());
  size_t row = 0;
  int mismatches = 0;
  for (int g = 0; g < f.num_row_groups(); ++g) {
    const ColumnData d = f.read_column(g, path);
    ASSERT_EQ(static_cast<int64_t>(d.size()), f.row_group_num_rows(g));
    EXPECT_EQ(d.type, info.type);
    const size_t n = d.size();
    EXPECT_EQ(d.ints.size() + d.floats.size() + d.bytes.size(), n) << "exactly one value vector is filled";
    for (size_t i = 0; i < n; ++i, ++row) {
      const std::string why = compare(d, i, values[row]);
      if (!why.empty() && ++mismatches <= 5)
        ADD_FAILURE() << "row " << row << " (row group " << g << ", row " << i << "): " << why;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// Opens <name>.parquet and checks it against <name>.json: rows, row groups, key-value metadata,
// every column value, expected errors and page layouts.
void expect_file_matches(const std::string& name) {
  SCOPED_TRACE(name);
  const json want = load_expected(name);
  const ParquetFile f = ParquetFile::open(data_dir() + "/" + want.at("file").get<std::string>());
  EXPECT_EQ(f.num_rows(), want.at("num_rows").get<int64_t>());
  if (want.contains("row_groups")) {
    std::vector<int64_t> groups;
    for (int g = 0; g < f.num_row_groups(); ++g) groups.push_back(f.row_group_num_rows(g));
    EXPECT_EQ(groups, want.at("row_groups").get<std::vector<int64_t>>());
  }
  if (want.contains("min_row_groups")) {
    EXPECT_GE(f.num_row_groups(), want.at("min_row_groups").get<int>());
  }
  if (want.contains("kv")) {
    const auto kv = f.key_value_metadata();
    for (const auto& [k, v] : want.at("kv").items()) {
      ASSERT_EQ(kv.count(k), 1u) << "key-value metadata lacks " << k;
      EXPECT_EQ(kv.at(k), v.get<std::string>());
    }
  }
  for (const json& col : want.at("columns")) expect_column(f, col);
  for (const json& err : want.at("errors")) {
    const std::string path = err.at("path");
    try {
      f.read_column(err.at("row_group").get<int>(), path);
      ADD_FAILURE() << "reading " << path << " did not fail";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(err.at("contains").get<std::string>()), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(f.path()), std::string::npos) << e.what();
    }
  }
  for (const json& pg : want.at("pages")) {
    const std::string path = pg.at("path");
    const std::vector<PageInfo> pages = f.page_infos(pg.at("row_group").get<int>(), path);
    std::vector<std::string> types, encodings;
    for (const PageInfo& p : pages) {
      types.push_back(p.page_type);
      encodings.push_back(p.encoding);
    }
    const bool exact = pg.value("exact", false);
    for (const char* key : {"page_types", "encodings"}) {
      if (!pg.contains(key)) continue;
      const auto expected = pg.at(key).get<std::vector<std::string>>();
      const auto& got = std::string(key) == "page_types" ? types : encodings;
      if (exact) {
        EXPECT_EQ(got, expected) << path << " " << key;
      } else {
        for (const std::string& e : expected)
          EXPECT_NE(std::find(got.begin(), got.end(), e), got.end()) << path << " has no " << key << " " << e;
      }
    }
  }
}

TEST(GeneratedParquet, EveryCodecDecodesEveryValue) {
  for (const char* codec : {"uncompressed", "snappy", "gzip", "zstd"})
    expect_file_matches(std::string("types_") + codec);
}

TEST(GeneratedParquet, FormatV2EncodingsDecodeEveryValue) {
  expect_file_matches("types_v2_snappy");
  expect_file_matches("types_v2_zstd");
}

TEST(GeneratedParquet, ManyRowGroupsConcatenateToTheWrittenRows) {
  expect_file_matches("many_row_groups");
}

TEST(GeneratedParquet, HuggingFaceImageStructsKeepNullStructsAndNullFieldsApart) {
  expect_file_matches("hf_image");
  const ParquetFile f = ParquetFile::open(data_dir() + "/hf_image.parquet");
  const ColumnData bytes = f.read_column(0, "image.bytes");
  const ColumnData path = f.read_column(0, "image.path");
  EXPECT_EQ(f.columns()[static_cast<size_t>(f.column_index("image.bytes"))].max_def_level, 2);
  EXPECT_FALSE(bytes.valid[7]);  // the whole image struct is null
  EXPECT_FALSE(path.valid[7]);
  EXPECT_FALSE(bytes.valid[8]);  // an image given by path only
  EXPECT_TRUE(path.valid[8]);
  EXPECT_EQ(path.bytes[8], "MPX1007_synpic46722.png");
  EXPECT_EQ(bytes.bytes[4].size(), 210008u);
  EXPECT_EQ(bytes.bytes[4].substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(GeneratedParquet, HuggingFaceAudioStructsHoldTheFixtureClips) {
  expect_file_matches("hf_audio");
  const ParquetFile f = ParquetFile::open(data_dir() + "/hf_audio.parquet");
  const ColumnData bytes = f.read_column(0, "audio.bytes");
  EXPECT_EQ(bytes.bytes[0].substr(0, 4), "RIFF");
  EXPECT_EQ(bytes.bytes[1].substr(0, 4), "fLaC");
  EXPECT_FALSE(bytes.valid[2]);  // a null Audio struct
  EXPECT_FALSE(bytes.valid[3]);  // a clip given by path only
}

TEST(GeneratedParquet, DictionaryFallbackToPlainMidChunk) {
  expect_file_matches("handmade_fallback");
}

TEST(GeneratedParquet, DataPageV2DeltaEncodingsAndInt96Refusal) {
  expect_file_matches("handmade_v2");
}

TEST(GeneratedParquet, ListColumnsAreRefusedWhileOtherColumnsRead) {
  expect_file_matches("list_column");
}

TEST(GeneratedParquet, EmptyFileHasColumnsButNoRowGroups) {
  expect_file_matches("empty");
}

TEST(GeneratedParquet, UnsupportedCodecsAreNamed) {
  expect_file_matches("codec_lz4");
  expect_file_matches("codec_brotli");
}

TEST(GeneratedParquet, EveryGeneratedFileIsChecked) {
  std::set<std::string> found;
  for (const auto& e : fs::directory_iterator(data_dir()))
    if (e.path().extension() == ".json") found.insert(e.path().stem().string());
  EXPECT_EQ(found, (std::set<std::string>{
                       "types_uncompressed", "types_snappy", "types_gzip", "types_zstd",
                       "types_v2_snappy", "types_v2_zstd", "many_row_groups", "hf_image", "hf_audio",
                       "handmade_fallback", "handmade_v2", "list_column", "empty",
                       "codec_lz4", "codec_brotli"}));
}

// Every byte of the small hand-made files flipped in turn (in place, in a scratch copy): v2
// headers, DELTA streams, RLE booleans and GZIP pages must fail as an omnitune::Error naming the
// file, or still read.
TEST(GeneratedParquet, EveryByteOfTheHandmadeFilesFlippedIsAnErrorOrStillReads) {
  for (const char* name : {"handmade_fallback.parquet", "handmade_v2.parquet"}) {
    std::ifstream in(data_dir() + "/" + name, std::ios::binary);
    const std::vector<char> good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(good.empty()) << name;
    const fs::path p = fs::temp_directory_path() /
                       (std::string("omnitune_flip_") + std::to_string(::getpid()) + "_" + name);
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      out.write(good.data(), static_cast<std::streamsize>(good.size()));
    }
    const int fd = ::open(p.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << p;
    const auto put = [&](size_t off, char value) {
      ASSERT_EQ(::pwrite(fd, &value, 1, static_cast<off_t>(off)), 1);
    };
    int errors = 0, reads = 0;
    for (size_t off = 0; off < good.size() && !::testing::Test::HasFailure(); ++off) {
      put(off, static_cast<char>(good[off] ^ 0xFF));
      try {
        const ParquetFile f = ParquetFile::open(p.string());
        for (int g = 0; g < f.num_row_groups(); ++g)
          for (const ColumnInfo& c : f.columns()) {
            if (c.type == PhysicalType::Int96) continue;
            const ColumnData d = f.read_column(g, c.path);
            EXPECT_EQ(static_cast<int64_t>(d.size()), f.row_group_num_rows(g)) << name << " byte " << off;
          }
        ++reads;
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " byte " << off << ": exception other than omnitune::Error: " << e.what();
      }
      put(off, good[off]);
    }
    ::close(fd);
    fs::remove(p);
    EXPECT_GT(errors, 0);
    std::printf("%s: %d flips gave errors, %d still read\n", name, errors, reads);
  }
}

}  // namespace
}  // namespace omnitune::parquet
