// Unit tests of the Parquet reader's building blocks on hand-assembled bytes: the Thrift compact
// decoder, the RLE/bit-packed hybrid, PLAIN/DELTA/dictionary value decoders and the codecs. The
// expected bytes follow the Parquet and Thrift specs (worked examples are noted where used).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "parquet/compression.h"
#include "parquet/encoding.h"
#include "parquet/rle.h"
#include "parquet/thrift_compact.h"

namespace omnitune::parquet {
namespace {

using Bytes = std::vector<uint8_t>;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ThriftCompact, DecodesDeltaAndLongFieldIdsListsAndBools) {
  // field 1 i32 -3; field 3 binary "ab"; field 20 (long form) i64 300; field 21 list<i32> [1, 2];
  // field 22 bool true; stop.
  const Bytes b = {0x15, 0x05, 0x28, 0x02, 'a', 'b', 0x06, 0x28, 0xD8, 0x04,
                   0x19, 0x25, 0x02, 0x04, 0x11, 0x00};
  CompactReader r(b.data(), b.size(), "test");
  int16_t last = 0;
  ThriftField f;
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.id, 1);
  EXPECT_EQ(r.read_i32(f), -3);
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.id, 3);
  EXPECT_EQ(r.read_string(f), "ab");
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.id, 20);
  EXPECT_EQ(r.read_i64(f), 300);
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.id, 21);
  const ThriftList l = r.read_list_header(f);
  ASSERT_EQ(l.size, 2);
  EXPECT_EQ(r.read_i32_elem(), 1);
  EXPECT_EQ(r.read_i32_elem(), 2);
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.id, 22);
  EXPECT_TRUE(r.read_bool(f));
  EXPECT_FALSE(r.next_field(&last, &f));
  EXPECT_EQ(r.position(), b.size());
}

TEST(ThriftCompact, SkipsUnknownNestedValues) {
  // 1: struct { 1: list<binary> ["x"], 2: double 0 }, 2: map<i32, bool> {1: true}, 3: i32 7.
  const Bytes b = {0x1C, 0x19, 0x18, 0x01, 'x', 0x17, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
                   0x1B, 0x01, 0x51, 0x02, 0x01, 0x15, 0x0E, 0x00};
  CompactReader r(b.data(), b.size(), "test");
  int16_t last = 0;
  ThriftField f;
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.type, ThriftType::Struct);
  r.skip(f.type);
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.type, ThriftType::Map);
  r.skip(f.type);
  ASSERT_TRUE(r.next_field(&last, &f));
  EXPECT_EQ(f.id, 3);
  EXPECT_EQ(r.read_i32(f), 7);
  EXPECT_FALSE(r.next_field(&last, &f));
}

TEST(ThriftCompact, TruncatedOrHostileInputIsAnError) {
  const Bytes truncated_string = {0x18, 0x0A, 'a', 'b'};
  CompactReader r1(truncated_string.data(), truncated_string.size(), "meta");
  int16_t last = 0;
  ThriftField f;
  ASSERT_TRUE(r1.next_field(&last, &f));
  EXPECT_NE(error_of([&] { r1.read_string(f); }).find("meta: Thrift string of 10 bytes runs past"),
            std::string::npos);

  const Bytes huge_list = {0x19, 0xF5, 0xFF, 0xFF, 0xFF, 0x0F};  // 2^32-1 i32 elements
  CompactReader r2(huge_list.data(), huge_list.size(), "meta");
  last = 0;
  ASSERT_TRUE(r2.next_field(&last, &f));
  EXPECT_NE(error_of([&] { r2.read_list_header(f); }).find("longer than the data"), std::string::npos);

  const Bytes long_varint(12, 0xFF);
  Bytes v = {0x15};
  v.insert(v.end(), long_varint.begin(), long_varint.end());
  CompactReader r3(v.data(), v.size(), "meta");
  last = 0;
  ASSERT_TRUE(r3.next_field(&last, &f));
  EXPECT_NE(error_of([&] { r3.read_i32(f); }).find("varint longer"), std::string::npos);

  Bytes deep(200, 0x1C);  // struct inside struct inside ...
  CompactReader r4(deep.data(), deep.size(), "meta");
  last = 0;
  ASSERT_TRUE(r4.next_field(&last, &f));
  EXPECT_NE(error_of([&] { r4.skip(f.type); }).find("nested too deeply"), std::string::npos);

  const Bytes wrong_type = {0x18, 0x01, 'a'};  // binary where an i32 is expected
  CompactReader r5(wrong_type.data(), wrong_type.size(), "meta");
  last = 0;
  ASSERT_TRUE(r5.next_field(&last, &f));
  EXPECT_NE(error_of([&] { r5.read_i32(f); }).find("wire type binary, expected i32"),
            std::string::npos);

  const Bytes empty;
  CompactReader r6(empty.data(), 0, "meta");
  last = 0;
  EXPECT_NE(error_of([&] { r6.next_field(&last, &f); }).find("truncated Thrift data"),
            std::string::npos);
}

std::vector<uint32_t> hybrid(const Bytes& b, int width, size_t count) {
  std::vector<uint32_t> out(count);
  decode_rle_hybrid(b.data(), b.size(), width, count, out.data(), "test", "levels");
  return out;
}

TEST(RleHybrid, DecodesRleRunsBitPackedRunsAndMixes) {
  EXPECT_EQ(hybrid({0x0A, 0x05}, 3, 5), std::vector<uint32_t>(5, 5));
  // Parquet spec example: 0..7 bit-packed at width 3 is 10001000 11000110 11111010.
  EXPECT_EQ(hybrid({0x03, 0x88, 0xC6, 0xFA}, 3, 8), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // RLE run of two 1s, then a bit-packed group whose padding values are not wanted.
  EXPECT_EQ(hybrid({0x04, 0x01, 0x03, 0x88, 0xC6, 0xFA}, 3, 5), (std::vector<uint32_t>{1, 1, 0, 1, 2}));
  // Bit width 0 (a one-entry dictionary): runs carry no value bytes.
  EXPECT_EQ(hybrid({0x0A}, 0, 5), std::vector<uint32_t>(5, 0));
  // A final bit-packed run cut after its last real value is accepted.
  EXPECT_EQ(hybrid({0x03, 0x88}, 3, 2), (std::vector<uint32_t>{0, 1}));
  // Two-byte RLE value for width 9.
  EXPECT_EQ(hybrid({0x06, 0x2C, 0x01}, 9, 3), std::vector<uint32_t>(3, 300));
}

TEST(RleHybrid, ShortDataIsAnErrorNamingWhatWasDecoded) {
  EXPECT_NE(error_of([] { hybrid({0x0A, 0x05}, 3, 10); }).find("test: levels: data ends after 5 of 10"),
            std::string::npos);
  EXPECT_NE(error_of([] { hybrid({0x03, 0x88}, 3, 8); }).find("bit-packed run of 8 values needs 3"),
            std::string::npos);
  EXPECT_NE(error_of([] { hybrid({0x0A}, 3, 5); }).find("RLE run value is truncated"),
            std::string::npos);
  EXPECT_NE(error_of([] { hybrid({}, 1, 1); }).find("data ends after 0 of 1"), std::string::npos);
}

TEST(DeltaBinaryPacked, DecodesZeroWidthAndPackedMiniblocks) {
  // 1,2,3,4,5: block 128, 4 miniblocks, 5 values, first 1; min delta 1, all widths 0.
  std::vector<int64_t> out;
  const Bytes a = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
  EXPECT_EQ(decode_delta_binary_packed(a.data(), a.size(), 5, &out, "t"), a.size());
  EXPECT_EQ(out, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // 7,5,3,1,2,3,4,5: deltas -2,-2,-2,1,1,1,1; min -2; relative 0,0,0,3,3,3,3 at width 2.
  out.clear();
  const Bytes b = {0x80, 0x01, 0x04, 0x08, 0x0E, 0x03, 0x02, 0, 0, 0,
                   0xC0, 0x3F, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(decode_delta_binary_packed(b.data(), b.size(), 8, &out, "t"), b.size());
  EXPECT_EQ(out, (std::vector<int64_t>{7, 5, 3, 1, 2, 3, 4, 5}));
}

TEST(DeltaBinaryPacked, InvalidHeadersAndCountsAreErrors) {
  std::vector<int64_t> out;
  const Bytes bad_block = {0x64, 0x04, 0x05, 0x02};  // block size 100
  EXPECT_NE(error_of([&] { decode_delta_binary_packed(bad_block.data(), bad_block.size(), 5, &out, "t"); })
                .find("header is invalid"),
            std::string::npos);
  const Bytes a = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
  EXPECT_NE(error_of([&] { decode_delta_binary_packed(a.data(), a.size(), 6, &out, "t"); })
                .find("holds 5 values, expected 6"),
            std::string::npos);
  const Bytes cut = {0x80, 0x01, 0x04, 0x08, 0x0E, 0x03, 0x02, 0, 0, 0, 0xC0};
  EXPECT_NE(error_of([&] { decode_delta_binary_packed(cut.data(), cut.size(), 8, &out, "t"); })
                .find("miniblock needs 2 bytes"),
            std::string::npos);
}

TEST(PlainDecoding, DecodesEachPhysicalType) {
  DecodedValues v;
  const Bytes ints = {0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0, 0, 0};
  decode_plain(ints.data(), ints.size(), 2, {PhysicalType::Int32, 0}, &v, "t");
  EXPECT_EQ(v.ints, (std::vector<int64_t>{-1, 2}));
  DecodedValues b;
  const Bytes bits = {0b00000101};
  decode_plain(bits.data(), bits.size(), 3, {PhysicalType::Boolean, 0}, &b, "t");
  EXPECT_EQ(b.ints, (std::vector<int64_t>{1, 0, 1}));
  DecodedValues f;
  const Bytes one_and_half = {0, 0, 0xC0, 0x3F};  // 1.5f
  decode_plain(one_and_half.data(), one_and_half.size(), 1, {PhysicalType::Float, 0}, &f, "t");
  EXPECT_EQ(f.floats, (std::vector<double>{1.5}));
  DecodedValues s;
  const Bytes strings = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0};
  decode_plain(strings.data(), strings.size(), 2, {PhysicalType::ByteArray, 0}, &s, "t");
  ASSERT_EQ(s.bytes.size(), 2u);
  EXPECT_EQ(s.bytes[0], "hi");
  EXPECT_EQ(s.bytes[1], "");
  DecodedValues fl;
  const Bytes fixed = {1, 2, 3, 4, 5, 6};
  decode_plain(fixed.data(), fixed.size(), 2, {PhysicalType::FixedLenByteArray, 3}, &fl, "t");
  EXPECT_EQ(fl.bytes[1], std::string("\x04\x05\x06"));
}

TEST(PlainDecoding, LengthsPastThePageAreErrors) {
  DecodedValues v;
  const Bytes strings = {200, 0, 0, 0, 'h', 'i'};
  EXPECT_NE(error_of([&] { decode_plain(strings.data(), strings.size(), 1, {PhysicalType::ByteArray, 0}, &v, "page 3"); })
                .find("page 3: PLAIN byte array 0 of 1 claims 200 bytes"),
            std::string::npos);
  const Bytes ints = {1, 0, 0, 0};
  EXPECT_NE(error_of([&] { decode_plain(ints.data(), ints.size(), 2, {PhysicalType::Int64, 0}, &v, "t"); })
                .find("too few for 2 values"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode_values(4, ints.data(), ints.size(), 1, {PhysicalType::Int32, 0}, &v, "t"); })
                .find("encoding BIT_PACKED (4) is not supported for INT32"),
            std::string::npos);
}

TEST(DeltaByteArray, PrefixLongerThanPreviousValueIsAnError) {
  // prefixes [0, 5] and suffix lengths [1, 1], suffixes "ab": value 1 asks for 5 bytes of "a".
  const Bytes b = {0x80, 0x01, 0x04, 0x02, 0x00, 0x0A, 0, 0, 0, 0,
                   0x80, 0x01, 0x04, 0x02, 0x02, 0x00, 0, 0, 0, 0, 'a', 'b'};
  DecodedValues v;
  EXPECT_NE(error_of([&] { decode_values(7, b.data(), b.size(), 2, {PhysicalType::ByteArray, 0}, &v, "t"); })
                .find("value 1 has prefix length 5 but the previous value has 1 bytes"),
            std::string::npos);
}

TEST(DictionaryIndices, ReadsBitWidthThenHybridIndices) {
  std::vector<uint32_t> idx;
  const Bytes b = {3, 0x03, 0x88, 0xC6, 0xFA};
  decode_dictionary_indices(b.data(), b.size(), 8, &idx, "t");
  EXPECT_EQ(idx, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  const Bytes wide = {40, 0x02};
  EXPECT_NE(error_of([&] { decode_dictionary_indices(wide.data(), wide.size(), 1, &idx, "t"); })
                .find("bit width 40 exceeds 32"),
            std::string::npos);
}

const std::string kText = "hello parquet page";

TEST(Compression, DecompressesSnappyGzipZstdAndUncompressed) {
  Bytes snappy = {0x12, 0x44};  // length 18, one literal of 18 bytes
  snappy.insert(snappy.end(), kText.begin(), kText.end());
  // ZSTD frame: magic, single-segment descriptor, 1-byte content size, one raw last block.
  Bytes zstd = {0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x12, 0x91, 0x00, 0x00};
  zstd.insert(zstd.end(), kText.begin(), kText.end());
  const Bytes gzip = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48,
                      0xcd, 0xc9, 0xc9, 0x57, 0x28, 0x48, 0x2c, 0x2a, 0x2c, 0x4d, 0x2d, 0x01,
                      0xd2, 0xe9, 0xa9, 0x00, 0x97, 0x6f, 0x23, 0x19, 0x12, 0x00, 0x00, 0x00};
  const Bytes raw(kText.begin(), kText.end());
  const Bytes want(kText.begin(), kText.end());
  EXPECT_EQ(decompress(1, snappy.data(), snappy.size(), 18, "t"), want);
  EXPECT_EQ(decompress(6, zstd.data(), zstd.size(), 18, "t"), want);
  EXPECT_EQ(decompress(2, gzip.data(), gzip.size(), 18, "t"), want);
  EXPECT_EQ(decompress(0, raw.data(), raw.size(), 18, "t"), want);
}

TEST(Compression, CorruptDataWrongSizesAndUnsupportedCodecsAreErrors) {
  Bytes snappy = {0x12, 0x44};
  snappy.insert(snappy.end(), kText.begin(), kText.end());
  EXPECT_NE(error_of([&] { decompress(1, snappy.data(), snappy.size(), 17, "page 0"); })
                .find("page 0: Snappy data decompresses to 18 bytes, the page header says 17"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decompress(1, snappy.data(), 10, 18, "t"); }).find("Snappy data is corrupt"),
            std::string::npos);
  const Bytes gzip = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48};
  EXPECT_NE(error_of([&] { decompress(2, gzip.data(), gzip.size(), 18, "t"); }).find("GZIP data is corrupt"),
            std::string::npos);
  const Bytes junk = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_NE(error_of([&] { decompress(6, junk.data(), junk.size(), 18, "t"); }).find("ZSTD data is corrupt"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decompress(5, junk.data(), junk.size(), 8, "t"); })
                .find("compression codec LZ4 (5) is not supported"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decompress(4, junk.data(), junk.size(), 8, "t"); }).find("BROTLI"),
            std::string::npos);
}

}  // namespace
}  // namespace omnitune::parquet
