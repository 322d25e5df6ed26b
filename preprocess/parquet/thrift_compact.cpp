// Thrift compact protocol decoding (see thrift_compact.h). Integers are ULEB128 varints with
// zigzag sign folding; field ids are delta-encoded; lists carry their size in a nibble or a varint.
#include "parquet/thrift_compact.h"

#include <utility>

#include "core/error.h"

namespace omnitune::parquet {

namespace {

// Parquet metadata nests a few levels deep (FileMetaData → RowGroup → ColumnChunk → metadata →
// statistics); anything deeper than this is a corrupt or hostile file, not a real one.
constexpr int kMaxSkipDepth = 32;

const char* type_name(ThriftType t) {
  switch (t) {
    case ThriftType::Stop: return "stop";
    case ThriftType::BoolTrue:
    case ThriftType::BoolFalse: return "bool";
    case ThriftType::Byte: return "byte";
    case ThriftType::I16: return "i16";
    case ThriftType::I32: return "i32";
    case ThriftType::I64: return "i64";
    case ThriftType::Double: return "double";
    case ThriftType::Binary: return "binary";
    case ThriftType::List: return "list";
    case ThriftType::Set: return "set";
    case ThriftType::Map: return "map";
    case ThriftType::Struct: return "struct";
  }
  return "unknown";
}

}  // namespace

CompactReader::CompactReader(const uint8_t* data, size_t size, std::string context)
    : data_(data), size_(size), context_(std::move(context)) {}

void CompactReader::fail(const std::string& what) const {
  OT_FAIL(context_, ": ", what, " (at byte ", pos_, " of ", size_, ")");
}

uint8_t CompactReader::read_byte() {
  if (pos_ >= size_) fail("truncated Thrift data");
  return data_[pos_++];
}

uint64_t CompactReader::read_varint() {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const uint8_t b = read_byte();
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return result;
  }
  fail("Thrift varint longer than 10 bytes");
}

int64_t CompactReader::read_zigzag() {
  const uint64_t v = read_varint();
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

bool CompactReader::next_field(int16_t* last_id, ThriftField* field) {
  const uint8_t b = read_byte();
  const auto type = static_cast<ThriftType>(b & 0x0f);
  if (type == ThriftType::Stop) return false;
  if (static_cast<uint8_t>(type) > static_cast<uint8_t>(ThriftType::Struct))
    fail(str_cat("unknown Thrift wire type ", static_cast<int>(b & 0x0f)));
  const int delta = b >> 4;
  int64_t id = 0;
  if (delta != 0) {
    id = *last_id + delta;
  } else {
    id = read_zigzag();
  }
  if (id < INT16_MIN || id > INT16_MAX) fail(str_cat("Thrift field id ", id, " out of range"));
  field->id = static_cast<int16_t>(id);
  field->type = type;
  *last_id = field->id;
  return true;
}

void CompactReader::expect_type(const ThriftField& field, ThriftType want, const char* what) {
  if (field.type != want)
    fail(str_cat("Thrift field ", field.id, " has wire type ", type_name(field.type), ", expected ",
                 what));
}

int32_t CompactReader::read_i32(const ThriftField& field) {
  // Writers may widen or narrow small integers; accept every integer wire type that fits.
  if (field.type != ThriftType::I32 && field.type != ThriftType::I16 &&
      field.type != ThriftType::Byte)
    expect_type(field, ThriftType::I32, "i32");
  if (field.type == ThriftType::Byte) return static_cast<int8_t>(read_byte());
  const int64_t v = read_zigzag();
  if (v < INT32_MIN || v > INT32_MAX) fail(str_cat("i32 field ", field.id, " out of range: ", v));
  return static_cast<int32_t>(v);
}

int64_t CompactReader::read_i64(const ThriftField& field) {
  if (field.type == ThriftType::Byte) return static_cast<int8_t>(read_byte());
  if (field.type != ThriftType::I64 && field.type != ThriftType::I32 &&
      field.type != ThriftType::I16)
    expect_type(field, ThriftType::I64, "i64");
  return read_zigzag();
}

bool CompactReader::read_bool(const ThriftField& field) {
  if (field.type != ThriftType::BoolTrue && field.type != ThriftType::BoolFalse)
    expect_type(field, ThriftType::BoolTrue, "bool");
  return field.type == ThriftType::BoolTrue;
}

std::string CompactReader::read_string(const ThriftField& field) {
  expect_type(field, ThriftType::Binary, "binary");
  return read_string_elem();
}

std::string CompactReader::read_string_elem() {
  const uint64_t len = read_varint();
  if (len > size_ - pos_)
    fail(str_cat("Thrift string of ", len, " bytes runs past the end of the data"));
  std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return s;
}

int32_t CompactReader::read_i32_elem() {
  const int64_t v = read_zigzag();
  if (v < INT32_MIN || v > INT32_MAX) fail(str_cat("i32 list element out of range: ", v));
  return static_cast<int32_t>(v);
}

ThriftList CompactReader::read_list_header_raw() {
  const uint8_t b = read_byte();
  ThriftList list;
  list.elem_type = static_cast<ThriftType>(b & 0x0f);
  const int small = b >> 4;
  const uint64_t size = small == 15 ? read_varint() : static_cast<uint64_t>(small);
  // Every element takes at least one byte, so a larger count cannot be real; checking here keeps
  // callers from reserving memory for a count read from a corrupt file.
  if (size > size_ - pos_) fail(str_cat("Thrift list of ", size, " elements is longer than the data"));
  list.size = static_cast<int64_t>(size);
  return list;
}

ThriftList CompactReader::read_list_header(const ThriftField& field) {
  if (field.type != ThriftType::List && field.type != ThriftType::Set)
    expect_type(field, ThriftType::List, "list");
  return read_list_header_raw();
}

void CompactReader::expect_struct(const ThriftField& field) {
  expect_type(field, ThriftType::Struct, "struct");
}

void CompactReader::skip(ThriftType type) { skip_depth(type, 0); }

void CompactReader::skip_element(ThriftType type, int depth) {
  // Inside lists and maps, bools are one byte each rather than living in a field header.
  if (type == ThriftType::BoolTrue || type == ThriftType::BoolFalse) {
    read_byte();
    return;
  }
  if (type == ThriftType::Stop) fail("Thrift container with element type stop");
  skip_depth(type, depth);
}

void CompactReader::skip_depth(ThriftType type, int depth) {
  if (depth > kMaxSkipDepth) fail("Thrift structures nested too deeply");
  switch (type) {
    case ThriftType::BoolTrue:
    case ThriftType::BoolFalse:
      return;  // the value is in the field header
    case ThriftType::Byte:
      read_byte();
      return;
    case ThriftType::I16:
    case ThriftType::I32:
    case ThriftType::I64:
      read_varint();
      return;
    case ThriftType::Double:
      if (size_ - pos_ < 8) fail("truncated Thrift double");
      pos_ += 8;
      return;
    case ThriftType::Binary: {
      const uint64_t len = read_varint();
      if (len > size_ - pos_) fail(str_cat("Thrift binary of ", len, " bytes runs past the end"));
      pos_ += static_cast<size_t>(len);
      return;
    }
    case ThriftType::List:
    case ThriftType::Set: {
      const ThriftList list = read_list_header_raw();
      for (int64_t i = 0; i < list.size; ++i) skip_element(list.elem_type, depth + 1);
      return;
    }
    case ThriftType::Map: {
      const uint64_t size = read_varint();
      if (size == 0) return;
      if (size > size_ - pos_) fail(str_cat("Thrift map of ", size, " entries is longer than the data"));
      const uint8_t kv = read_byte();
      const auto key = static_cast<ThriftType>(kv >> 4);
      const auto value = static_cast<ThriftType>(kv & 0x0f);
      for (uint64_t i = 0; i < size; ++i) {
        skip_element(key, depth + 1);
        skip_element(value, depth + 1);
      }
      return;
    }
    case ThriftType::Struct: {
      int16_t last = 0;
      ThriftField f;
      while (next_field(&last, &f)) skip_depth(f.type, depth + 1);
      return;
    }
    case ThriftType::Stop:
      break;
  }
  fail(str_cat("cannot skip Thrift value of wire type ", static_cast<int>(type)));
}

}  // namespace omnitune::parquet
