// Value decoders for Parquet pages: PLAIN, dictionary indices, RLE booleans, and the DELTA_* and
// BYTE_STREAM_SPLIT encodings DuckDB, Spark and parquet-mr write with format v2. Each decodes the
// non-null values of one page (or a dictionary) and checks every length against the page bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parquet/types.h"

namespace omnitune::parquet {

// Physical type of the values being decoded (type_length only for FixedLenByteArray).
struct ValueType {
  PhysicalType type = PhysicalType::ByteArray;
  int type_length = 0;
};

// The non-null values of one page or dictionary, in order. Only the vector for the type's kind is
// filled. `bytes` views point into the page buffer the decoder read, or into `storage` for
// encodings that rebuild values (DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT); they live as long as both
// do. Decode one page per DecodedValues: a second decode may move `storage`.
struct DecodedValues {
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string_view> bytes;
  std::string storage;

  size_t size() const { return ints.size() + floats.size() + bytes.size(); }
};

// Decodes `count` values with a non-dictionary encoding (parquet.thrift Encoding number) from
// data[0, size). Throws Error naming `context` for an unsupported encoding or malformed data.
void decode_values(int32_t encoding, const uint8_t* data, size_t size, size_t count,
                   const ValueType& type, DecodedValues* out, const std::string& context);

// PLAIN: fixed-width little-endian values, bit-packed booleans, length-prefixed byte arrays.
void decode_plain(const uint8_t* data, size_t size, size_t count, const ValueType& type,
                  DecodedValues* out, const std::string& context);

// RLE_DICTIONARY / PLAIN_DICTIONARY data pages: one bit-width byte, then hybrid-encoded indices.
void decode_dictionary_indices(const uint8_t* data, size_t size, size_t count,
                               std::vector<uint32_t>* indices, const std::string& context);

// DELTA_BINARY_PACKED integers (64-bit arithmetic, wrapping like the writers' two's complement).
// Decodes exactly `count` values and returns the bytes consumed.
size_t decode_delta_binary_packed(const uint8_t* data, size_t size, size_t count,
                                  std::vector<int64_t>* out, const std::string& context);

}  // namespace omnitune::parquet
