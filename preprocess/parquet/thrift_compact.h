// Decoder for the Thrift compact protocol, the encoding of Parquet's footer and page headers.
// It reads from one bounded byte range and turns every overrun, oversized count or runaway
// nesting into an omnitune::Error naming `context`, because its input comes from untrusted files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace omnitune::parquet {

// Wire types of the compact protocol (the low nibble of a field header).
enum class ThriftType : uint8_t {
  Stop = 0,
  BoolTrue = 1,
  BoolFalse = 2,
  Byte = 3,
  I16 = 4,
  I32 = 5,
  I64 = 6,
  Double = 7,
  Binary = 8,
  List = 9,
  Set = 10,
  Map = 11,
  Struct = 12,
};

// One field header inside a struct: its id and wire type.
struct ThriftField {
  int16_t id = 0;
  ThriftType type = ThriftType::Stop;
};

// Element type and count of a list or set.
struct ThriftList {
  ThriftType elem_type = ThriftType::Stop;
  int64_t size = 0;
};

class CompactReader {
 public:
  // Reads data[0, size). `context` prefixes every error, e.g. "x.parquet: file metadata".
  CompactReader(const uint8_t* data, size_t size, std::string context);

  // Reads the next field header of the struct being decoded. `last_id` is the previous field id
  // of that struct (start at 0); field ids are delta-encoded against it. False at the STOP byte.
  bool next_field(int16_t* last_id, ThriftField* field);

  // Value readers. Each checks that `field` (when given) has the expected wire type.
  int32_t read_i32(const ThriftField& field);
  int64_t read_i64(const ThriftField& field);
  bool read_bool(const ThriftField& field);  // compact bools live in the field header
  std::string read_string(const ThriftField& field);
  ThriftList read_list_header(const ThriftField& field);
  void expect_struct(const ThriftField& field);

  // List element readers (no field header in front of list elements).
  int32_t read_i32_elem();
  std::string read_string_elem();

  // Skips a value of any type, nested structures included (depth-limited).
  void skip(ThriftType type);

  size_t position() const { return pos_; }
  const std::string& context() const { return context_; }

  // Throws Error "<context>: <what> (at byte <pos> of <size>)".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  uint8_t read_byte();
  uint64_t read_varint();
  int64_t read_zigzag();
  ThriftList read_list_header_raw();
  void skip_depth(ThriftType type, int depth);
  void skip_element(ThriftType type, int depth);
  void expect_type(const ThriftField& field, ThriftType want, const char* what);

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string context_;
};

}  // namespace omnitune::parquet
