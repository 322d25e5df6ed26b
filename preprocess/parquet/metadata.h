// Parquet's Thrift structures (parquet.thrift), reduced to the fields this reader uses, and their
// decoders. Fields we never use (statistics, indexes, bloom filters, encryption) are skipped on the
// wire, so files from newer writers still parse. Enum values are the on-disk numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace omnitune::parquet {

class CompactReader;

// parquet.thrift enum Type.
enum class ThriftPhysicalType : int32_t {
  Boolean = 0, Int32 = 1, Int64 = 2, Int96 = 3, Float = 4, Double = 5, ByteArray = 6,
  FixedLenByteArray = 7,
};
// parquet.thrift enum FieldRepetitionType.
enum class Repetition : int32_t { Required = 0, Optional = 1, Repeated = 2 };
// parquet.thrift enum Encoding.
enum class Encoding : int32_t {
  Plain = 0, PlainDictionary = 2, Rle = 3, BitPacked = 4, DeltaBinaryPacked = 5,
  DeltaLengthByteArray = 6, DeltaByteArray = 7, RleDictionary = 8, ByteStreamSplit = 9,
};
// parquet.thrift enum CompressionCodec.
enum class Codec : int32_t {
  Uncompressed = 0, Snappy = 1, Gzip = 2, Lzo = 3, Brotli = 4, Lz4 = 5, Zstd = 6, Lz4Raw = 7,
};
// parquet.thrift enum PageType.
enum class PageType : int32_t { DataPage = 0, IndexPage = 1, DictionaryPage = 2, DataPageV2 = 3 };

const char* encoding_name(int32_t encoding);
const char* codec_name(int32_t codec);
const char* page_type_name(int32_t type);
const char* thrift_type_name(int32_t type);

struct SchemaElement {
  bool has_type = false;  // false for groups (structs, lists, the root)
  int32_t type = 0;       // ThriftPhysicalType
  int32_t type_length = 0;
  bool has_repetition = false;
  int32_t repetition = 0;  // Repetition
  std::string name;
  bool has_num_children = false;
  int32_t num_children = 0;
  bool has_converted_type = false;
  int32_t converted_type = 0;  // parquet.thrift ConvertedType (UTF8 = 0, ENUM = 4, JSON = 19)
  int32_t logical_type = -1;   // field id set in the LogicalType union (STRING = 1), -1 if none
};

struct KeyValue {
  std::string key;
  std::string value;
};

struct ColumnMetaData {
  int32_t type = 0;
  std::vector<int32_t> encodings;
  std::vector<std::string> path_in_schema;
  int32_t codec = 0;
  int64_t num_values = 0;
  int64_t total_uncompressed_size = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = 0;
  bool has_dictionary_page_offset = false;
  int64_t dictionary_page_offset = 0;
};

struct ColumnChunk {
  std::string file_path;  // non-empty: the data lives in another file (not supported)
  bool has_meta_data = false;
  ColumnMetaData meta_data;
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t total_byte_size = 0;
  int64_t num_rows = 0;
};

struct FileMetaData {
  int32_t version = 0;
  std::vector<SchemaElement> schema;  // depth-first, element 0 is the root
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::vector<KeyValue> key_value_metadata;
  std::string created_by;
};

struct DataPageHeader {
  int32_t num_values = 0;
  int32_t encoding = 0;
  int32_t definition_level_encoding = 0;
  int32_t repetition_level_encoding = 0;
};

struct DictionaryPageHeader {
  int32_t num_values = 0;
  int32_t encoding = 0;
};

struct DataPageHeaderV2 {
  int32_t num_values = 0;
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  int32_t encoding = 0;
  int32_t definition_levels_byte_length = 0;
  int32_t repetition_levels_byte_length = 0;
  bool is_compressed = true;  // Thrift default: values are compressed unless told otherwise
};

struct PageHeader {
  int32_t type = 0;  // PageType
  int32_t uncompressed_page_size = 0;
  int32_t compressed_page_size = 0;
  bool has_data_page_header = false;
  DataPageHeader data_page_header;
  bool has_dictionary_page_header = false;
  DictionaryPageHeader dictionary_page_header;
  bool has_data_page_header_v2 = false;
  DataPageHeaderV2 data_page_header_v2;
};

// Decodes the footer's FileMetaData from `data[0, size)`; errors name `context`.
FileMetaData parse_file_metadata(const uint8_t* data, size_t size, const std::string& context);

// Decodes one PageHeader from the start of `data[0, size)` and returns the bytes it occupied.
PageHeader parse_page_header(const uint8_t* data, size_t size, const std::string& context,
                             size_t* header_size);

}  // namespace omnitune::parquet
