// Reads the real pyarrow-written MedPix sample (tests/fixtures/medpix/sample.parquet: 60 rows,
// Snappy, dictionary pages, raw PNG bytes in `image`). Expected values were taken from DuckDB
// reading the same file (an independent reader), e.g. sha256 of every distinct image.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/sha256.h"
#include "parquet/parquet_file.h"
#include "../test_util.h"

namespace omnitune::parquet {
namespace {

std::string fixture_path() {
  return omnitune::test_util::fixture("medpix", "sample.parquet");
}

// The fixture is part of the checkout CI runs on; its absence is a failure, never a skip.
ParquetFile open_fixture() {
  const std::string p = fixture_path();
  if (!std::filesystem::exists(p))
    throw std::runtime_error("missing test fixture " + p +
                             " (tests/fixtures/medpix/sample.parquet is part of the repository)");
  return ParquetFile::open(p);
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n;
  }
  return true;
}

std::string joined(const ColumnData& d) {
  std::string s;
  for (size_t i = 0; i < d.bytes.size(); ++i) s += (i ? "|" : "") + d.bytes[i];
  return s;
}

TEST(MedpixFixture, SchemaRowsAndMetadata) {
  const ParquetFile f = open_fixture();
  EXPECT_EQ(f.num_rows(), 60);
  EXPECT_EQ(f.num_row_groups(), 1);
  EXPECT_EQ(f.row_group_num_rows(0), 60);
  EXPECT_EQ(f.created_by(), "parquet-cpp-arrow version 14.0.2");
  std::vector<std::string> names;
  for (const ColumnInfo& c : f.columns()) {
    names.push_back(c.path);
    EXPECT_EQ(c.type, PhysicalType::ByteArray) << c.path;
    EXPECT_EQ(c.max_def_level, 1) << c.path;
    EXPECT_EQ(c.max_rep_level, 0) << c.path;
    EXPECT_EQ(c.is_string, c.path != "image") << c.path;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"case_id", "question", "answer", "image", "image_id", "mode"}));
  EXPECT_EQ(f.column_index("image"), 3);
  EXPECT_EQ(f.column_index("image.bytes"), -1);
  const auto kv = f.key_value_metadata();
  EXPECT_EQ(kv.count("ARROW:schema"), 1u);
  ASSERT_EQ(kv.count("pandas"), 1u);
  EXPECT_EQ(kv.at("pandas").rfind("{\"index_columns\": [\"image_id\", \"mode\"]", 0), 0u);
}

TEST(MedpixFixture, ImagesArePngBytesOfSixDistinctImages) {
  const ParquetFile f = open_fixture();
  const ColumnData img = f.read_column(0, "image");
  ASSERT_EQ(img.size(), 60u);
  ASSERT_EQ(img.bytes.size(), 60u);
  EXPECT_TRUE(img.ints.empty());
  EXPECT_TRUE(img.floats.empty());
  const std::string png_signature("\x89PNG\r\n\x1a\n", 8);
  std::set<std::string> distinct;
  for (size_t i = 0; i < img.size(); ++i) {
    ASSERT_EQ(img.valid[i], 1) << "row " << i;
    ASSERT_EQ(img.bytes[i].compare(0, 8, png_signature), 0) << "row " << i;
    distinct.insert(sha256_hex(img.bytes[i]));
  }
  // sha256 of the six PNGs as DuckDB reads them; the rows hold them in blocks of ten.
  EXPECT_EQ(distinct, (std::set<std::string>{
                          "1344dae7ae3f6da0f828c6702c3d009f0bb72f6c853e4b1fb3febe46881c25f7",
                          "b358aa21cbe1f74765db11de66ece85991bd745804455ca7b5611a6a53e518dd",
                          "95173d26b90b0ec6ab41ac2d3b443eab9230dcff19388949a3f3af21692703b7",
                          "8905108d286f93f2887a404e4fad3423c596a454f4741ad5099544dec85d703f",
                          "dd5ae3d3f8ffe456be309d51f07e71d4e37e35676a593f96ea9b9ba3961b7b36",
                          "75f5e8c661f7b09f038889765ca53284e9ff618c6e9bb3d68ffcce7e8187099a"}));
  const size_t sizes[6] = {175471, 49922, 87288, 51171, 83468, 204081};
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(img.bytes[i].size(), sizes[i / 10]) << "row " << i;
  // First image: IHDR says 512 x 512, 8-bit RGB.
  const std::string ihdr("\x00\x00\x00\x0d" "IHDR" "\x00\x00\x02\x00" "\x00\x00\x02\x00" "\x08\x02\x00\x00\x00", 21);
  EXPECT_EQ(img.bytes[0].substr(8, 21), ihdr);
}

TEST(MedpixFixture, TextColumnsMatchAnIndependentReader) {
  const ParquetFile f = open_fixture();
  const ColumnData case_id = f.read_column(0, "case_id");
  const ColumnData question = f.read_column(0, "question");
  const ColumnData answer = f.read_column(0, "answer");
  const ColumnData image_id = f.read_column(0, "image_id");
  const ColumnData mode = f.read_column(0, "mode");
  for (const ColumnData* c : {&case_id, &question, &answer, &image_id, &mode}) {
    ASSERT_EQ(c->size(), 60u);
    for (size_t i = 0; i < 60; ++i) {
      EXPECT_EQ(c->valid[i], 1);
      EXPECT_FALSE(c->bytes[i].empty());
      EXPECT_TRUE(valid_utf8(c->bytes[i])) << "row " << i;
    }
  }
  EXPECT_EQ(case_id.bytes[0], "MPX1009");
  EXPECT_EQ(question.bytes[0], "What is the suspected problem?");
  EXPECT_EQ(answer.bytes[0].rfind("The findings suggest Bladder with thickened wall and diverticulum", 0), 0u);
  EXPECT_EQ(answer.bytes[0].size(), 409u);
  EXPECT_EQ(image_id.bytes[0], "MPX1009_synpic46295");
  EXPECT_EQ(answer.bytes[6].rfind("The possible diagnosis includes \xe2\x80\xa2  Ischemia", 0), 0u);
  EXPECT_EQ(question.bytes[30], "What is the most likely cause of the bladder diverticulum in this patient?");
  EXPECT_EQ(answer.bytes[59],
            "The narrow-necked variety is more likely to have urinary stasis because it empties "
            "slowly, whereas the wide-necked variety empties urine readily.");
  std::set<std::string> modes(mode.bytes.begin(), mode.bytes.end());
  EXPECT_EQ(modes, (std::set<std::string>{"alignment", "from caption"}));
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(mode.bytes[i], i < 30 ? "from caption" : "alignment");
  // Whole-column digests of the '|'-joined values, from DuckDB in file row order.
  EXPECT_EQ(sha256_hex(joined(answer)), "d9920a0ed3e31a997a700950061b367e418eb76c41c104d13eff2899befd4a67");
  EXPECT_EQ(sha256_hex(joined(question)), "eaffcfe3ef1676023294ef2e6e51f58ad3bc7d5f5f0936bdb23247ae0da590e3");
  EXPECT_EQ(sha256_hex(joined(image_id)), "67cd3570c1f90b34b8f008d7fd3e73657c6068283aa9f8433fb573ed38bc491d");
}

TEST(MedpixFixture, PagesAreADictionaryPageThenOneDictionaryEncodedPage) {
  const ParquetFile f = open_fixture();
  const std::vector<PageInfo> pages = f.page_infos(0, "image");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].page_type, "DICTIONARY_PAGE");
  EXPECT_EQ(pages[0].encoding, "PLAIN");
  EXPECT_EQ(pages[0].num_values, 6);
  EXPECT_EQ(pages[1].page_type, "DATA_PAGE");
  EXPECT_EQ(pages[1].encoding, "RLE_DICTIONARY");
  EXPECT_EQ(pages[1].num_values, 60);
}

TEST(MedpixFixture, ColumnByIndexEqualsColumnByPath) {
  const ParquetFile f = open_fixture();
  const ColumnData a = f.read_column(0, 2);
  const ColumnData b = f.read_column(0, "answer");
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.valid, b.valid);
}

TEST(MedpixFixture, ConcurrentReadsAgreeWithASerialRead) {
  const ParquetFile f = open_fixture();
  const ColumnData serial = f.read_column(0, "image");
  std::vector<ColumnData> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&, t] { results[t] = f.read_column(0, "image"); });
  for (auto& t : threads) t.join();
  for (const ColumnData& r : results) EXPECT_EQ(r.bytes, serial.bytes);
}

TEST(MedpixFixture, MissingColumnNamesTheClosestColumns) {
  const ParquetFile f = open_fixture();
  try {
    f.read_column(0, "answr");
    FAIL() << "no error for a missing column";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fixture_path() + ": no column 'answr'; closest: 'answer'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Columns: case_id, question, answer, image, image_id, mode"), std::string::npos) << msg;
  }
  try {
    f.read_column(1, "answer");
    FAIL() << "no error for a missing row group";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row group 1 does not exist (the file has 1 row groups)"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(f.read_column(0, 6), Error);
  EXPECT_THROW(f.row_group_num_rows(-1), Error);
}

}  // namespace
}  // namespace omnitune::parquet
