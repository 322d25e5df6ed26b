// Public value types of the Parquet reader: what a leaf column is and what reading one column of
// one row group gives back. Values are materialised one entry per row (nulls included) so callers
// index them by row without knowing about definition levels or encodings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace omnitune::parquet {

enum class PhysicalType { Boolean, Int32, Int64, Int96, Float, Double, ByteArray, FixedLenByteArray };

inline const char* physical_type_name(PhysicalType type) {
  switch (type) {
    case PhysicalType::Boolean: return "BOOLEAN";
    case PhysicalType::Int32: return "INT32";
    case PhysicalType::Int64: return "INT64";
    case PhysicalType::Int96: return "INT96";
    case PhysicalType::Float: return "FLOAT";
    case PhysicalType::Double: return "DOUBLE";
    case PhysicalType::ByteArray: return "BYTE_ARRAY";
    case PhysicalType::FixedLenByteArray: return "FIXED_LEN_BYTE_ARRAY";
  }
  return "unknown";
}

// One leaf column of the schema. Nested fields are leaves of their struct: HF's Image feature
// `image: struct<bytes: binary, path: string>` gives the leaves "image.bytes" and "image.path".
struct ColumnInfo {
  std::string path;  // dotted path from the root, e.g. "image.bytes"
  PhysicalType type = PhysicalType::ByteArray;
  bool is_string = false;  // BYTE_ARRAY annotated as UTF-8 text (STRING/UTF8, ENUM or JSON)
  int type_length = 0;     // bytes per value, FixedLenByteArray only
  int max_def_level = 0;   // 0 for a REQUIRED chain; a value is present when its level equals this
  int max_rep_level = 0;   // > 0 for list/repeated columns, which read_column rejects
};

// One column of one row group: exactly one entry per row in each vector for the column's kind,
// the other value vectors stay empty. Null rows have valid[i] == 0 and a zero/empty value.
struct ColumnData {
  PhysicalType type = PhysicalType::ByteArray;
  std::vector<uint8_t> valid;      // 1 = value present
  std::vector<int64_t> ints;       // Boolean (0/1), Int32, Int64
  std::vector<double> floats;      // Float, Double
  std::vector<std::string> bytes;  // ByteArray, FixedLenByteArray (text and binary alike)

  size_t size() const { return valid.size(); }
};

// How one page of a column chunk is stored; for diagnostics and tests.
struct PageInfo {
  std::string page_type;  // "DICTIONARY_PAGE", "DATA_PAGE", "DATA_PAGE_V2", "INDEX_PAGE"
  std::string encoding;   // value encoding, e.g. "PLAIN", "RLE_DICTIONARY"
  int32_t num_values = 0;
  int32_t compressed_size = 0;
  int32_t uncompressed_size = 0;
};

}  // namespace omnitune::parquet
