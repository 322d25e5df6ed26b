// Field-by-field decoders for the parquet.thrift structures declared in metadata.h. Each decoder
// reads the fields it knows by id and skips the rest, so unknown or newer fields never break it;
// required fields that are missing become an Error rather than silent zeros.
#include "parquet/metadata.h"

#include "core/error.h"
#include "parquet/thrift_compact.h"

namespace omnitune::parquet {

const char* encoding_name(int32_t encoding) {
  switch (encoding) {
    case 0: return "PLAIN";
    case 2: return "PLAIN_DICTIONARY";
    case 3: return "RLE";
    case 4: return "BIT_PACKED";
    case 5: return "DELTA_BINARY_PACKED";
    case 6: return "DELTA_LENGTH_BYTE_ARRAY";
    case 7: return "DELTA_BYTE_ARRAY";
    case 8: return "RLE_DICTIONARY";
    case 9: return "BYTE_STREAM_SPLIT";
  }
  return "unknown encoding";
}

const char* codec_name(int32_t codec) {
  switch (codec) {
    case 0: return "UNCOMPRESSED";
    case 1: return "SNAPPY";
    case 2: return "GZIP";
    case 3: return "LZO";
    case 4: return "BROTLI";
    case 5: return "LZ4";
    case 6: return "ZSTD";
    case 7: return "LZ4_RAW";
  }
  return "unknown codec";
}

const char* page_type_name(int32_t type) {
  switch (type) {
    case 0: return "DATA_PAGE";
    case 1: return "INDEX_PAGE";
    case 2: return "DICTIONARY_PAGE";
    case 3: return "DATA_PAGE_V2";
  }
  return "unknown page type";
}

const char* thrift_type_name(int32_t type) {
  switch (type) {
    case 0: return "BOOLEAN";
    case 1: return "INT32";
    case 2: return "INT64";
    case 3: return "INT96";
    case 4: return "FLOAT";
    case 5: return "DOUBLE";
    case 6: return "BYTE_ARRAY";
    case 7: return "FIXED_LEN_BYTE_ARRAY";
  }
  return "unknown type";
}

namespace {

// The LogicalType union: we only need to know which member is set (STRING, JSON, ...).
int32_t parse_logical_type(CompactReader& r) {
  int32_t which = -1;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    if (f.type == ThriftType::Struct) which = f.id;
    r.skip(f.type);
  }
  return which;
}

SchemaElement parse_schema_element(CompactReader& r) {
  SchemaElement e;
  bool has_name = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: e.type = r.read_i32(f); e.has_type = true; break;
      case 2: e.type_length = r.read_i32(f); break;
      case 3: e.repetition = r.read_i32(f); e.has_repetition = true; break;
      case 4: e.name = r.read_string(f); has_name = true; break;
      case 5: e.num_children = r.read_i32(f); e.has_num_children = true; break;
      case 6: e.converted_type = r.read_i32(f); e.has_converted_type = true; break;
      case 10: r.expect_struct(f); e.logical_type = parse_logical_type(r); break;
      default: r.skip(f.type);
    }
  }
  if (!has_name) r.fail("schema element without a name");
  return e;
}

KeyValue parse_key_value(CompactReader& r) {
  KeyValue kv;
  bool has_key = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: kv.key = r.read_string(f); has_key = true; break;
      case 2: kv.value = r.read_string(f); break;
      default: r.skip(f.type);
    }
  }
  if (!has_key) r.fail("key-value metadata entry without a key");
  return kv;
}

ColumnMetaData parse_column_meta(CompactReader& r) {
  ColumnMetaData m;
  bool has_type = false, has_codec = false, has_num_values = false, has_data_page = false;
  bool has_sizes = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: m.type = r.read_i32(f); has_type = true; break;
      case 2: {
        const ThriftList l = r.read_list_header(f);
        m.encodings.reserve(static_cast<size_t>(l.size));
        for (int64_t i = 0; i < l.size; ++i) m.encodings.push_back(r.read_i32_elem());
        break;
      }
      case 3: {
        const ThriftList l = r.read_list_header(f);
        if (l.elem_type != ThriftType::Binary) r.fail("path_in_schema is not a list of strings");
        for (int64_t i = 0; i < l.size; ++i) m.path_in_schema.push_back(r.read_string_elem());
        break;
      }
      case 4: m.codec = r.read_i32(f); has_codec = true; break;
      case 5: m.num_values = r.read_i64(f); has_num_values = true; break;
      case 6: m.total_uncompressed_size = r.read_i64(f); break;
      case 7: m.total_compressed_size = r.read_i64(f); has_sizes = true; break;
      case 9: m.data_page_offset = r.read_i64(f); has_data_page = true; break;
      case 11:
        m.dictionary_page_offset = r.read_i64(f);
        m.has_dictionary_page_offset = true;
        break;
      default: r.skip(f.type);
    }
  }
  if (!has_type || !has_codec || !has_num_values || !has_data_page || !has_sizes)
    r.fail("column metadata lacks a required field (type, codec, num_values, "
           "total_compressed_size or data_page_offset)");
  return m;
}

ColumnChunk parse_column_chunk(CompactReader& r) {
  ColumnChunk c;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: c.file_path = r.read_string(f); break;
      case 3:
        r.expect_struct(f);
        c.meta_data = parse_column_meta(r);
        c.has_meta_data = true;
        break;
      default: r.skip(f.type);
    }
  }
  return c;
}

RowGroup parse_row_group(CompactReader& r) {
  RowGroup g;
  bool has_rows = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: {
        const ThriftList l = r.read_list_header(f);
        if (l.elem_type != ThriftType::Struct) r.fail("row group columns are not a list of structs");
        g.columns.reserve(static_cast<size_t>(l.size));
        for (int64_t i = 0; i < l.size; ++i) g.columns.push_back(parse_column_chunk(r));
        break;
      }
      case 2: g.total_byte_size = r.read_i64(f); break;
      case 3: g.num_rows = r.read_i64(f); has_rows = true; break;
      default: r.skip(f.type);
    }
  }
  if (!has_rows) r.fail("row group without num_rows");
  return g;
}

}  // namespace

FileMetaData parse_file_metadata(const uint8_t* data, size_t size, const std::string& context) {
  CompactReader r(data, size, context);
  FileMetaData m;
  bool has_schema = false, has_rows = false, has_groups = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: m.version = r.read_i32(f); break;
      case 2: {
        const ThriftList l = r.read_list_header(f);
        if (l.elem_type != ThriftType::Struct) r.fail("schema is not a list of structs");
        m.schema.reserve(static_cast<size_t>(l.size));
        for (int64_t i = 0; i < l.size; ++i) m.schema.push_back(parse_schema_element(r));
        has_schema = true;
        break;
      }
      case 3: m.num_rows = r.read_i64(f); has_rows = true; break;
      case 4: {
        const ThriftList l = r.read_list_header(f);
        if (l.elem_type != ThriftType::Struct) r.fail("row_groups is not a list of structs");
        m.row_groups.reserve(static_cast<size_t>(l.size));
        for (int64_t i = 0; i < l.size; ++i) m.row_groups.push_back(parse_row_group(r));
        has_groups = true;
        break;
      }
      case 5: {
        const ThriftList l = r.read_list_header(f);
        if (l.elem_type != ThriftType::Struct) r.fail("key_value_metadata is not a list of structs");
        for (int64_t i = 0; i < l.size; ++i) m.key_value_metadata.push_back(parse_key_value(r));
        break;
      }
      case 6: m.created_by = r.read_string(f); break;
      default: r.skip(f.type);
    }
  }
  if (!has_schema || !has_rows || !has_groups)
    r.fail("file metadata lacks schema, num_rows or row_groups");
  return m;
}

namespace {

DataPageHeader parse_data_page_header(CompactReader& r) {
  DataPageHeader h;
  bool has_num = false, has_enc = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: h.num_values = r.read_i32(f); has_num = true; break;
      case 2: h.encoding = r.read_i32(f); has_enc = true; break;
      case 3: h.definition_level_encoding = r.read_i32(f); break;
      case 4: h.repetition_level_encoding = r.read_i32(f); break;
      default: r.skip(f.type);
    }
  }
  if (!has_num || !has_enc) r.fail("data page header lacks num_values or encoding");
  return h;
}

DictionaryPageHeader parse_dictionary_page_header(CompactReader& r) {
  DictionaryPageHeader h;
  bool has_num = false, has_enc = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: h.num_values = r.read_i32(f); has_num = true; break;
      case 2: h.encoding = r.read_i32(f); has_enc = true; break;
      default: r.skip(f.type);
    }
  }
  if (!has_num || !has_enc) r.fail("dictionary page header lacks num_values or encoding");
  return h;
}

DataPageHeaderV2 parse_data_page_header_v2(CompactReader& r) {
  DataPageHeaderV2 h;
  int seen = 0;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: h.num_values = r.read_i32(f); ++seen; break;
      case 2: h.num_nulls = r.read_i32(f); ++seen; break;
      case 3: h.num_rows = r.read_i32(f); ++seen; break;
      case 4: h.encoding = r.read_i32(f); ++seen; break;
      case 5: h.definition_levels_byte_length = r.read_i32(f); ++seen; break;
      case 6: h.repetition_levels_byte_length = r.read_i32(f); ++seen; break;
      case 7: h.is_compressed = r.read_bool(f); break;
      default: r.skip(f.type);
    }
  }
  if (seen != 6) r.fail("data page v2 header lacks one of its six required fields");
  return h;
}

}  // namespace

PageHeader parse_page_header(const uint8_t* data, size_t size, const std::string& context,
                             size_t* header_size) {
  CompactReader r(data, size, context);
  PageHeader h;
  bool has_type = false, has_sizes = false;
  int16_t last = 0;
  ThriftField f;
  while (r.next_field(&last, &f)) {
    switch (f.id) {
      case 1: h.type = r.read_i32(f); has_type = true; break;
      case 2: h.uncompressed_page_size = r.read_i32(f); break;
      case 3: h.compressed_page_size = r.read_i32(f); has_sizes = true; break;
      case 5:
        r.expect_struct(f);
        h.data_page_header = parse_data_page_header(r);
        h.has_data_page_header = true;
        break;
      case 7:
        r.expect_struct(f);
        h.dictionary_page_header = parse_dictionary_page_header(r);
        h.has_dictionary_page_header = true;
        break;
      case 8:
        r.expect_struct(f);
        h.data_page_header_v2 = parse_data_page_header_v2(r);
        h.has_data_page_header_v2 = true;
        break;
      default: r.skip(f.type);
    }
  }
  if (!has_type || !has_sizes) r.fail("page header lacks type or compressed_page_size");
  if (h.compressed_page_size < 0 || h.uncompressed_page_size < 0)
    r.fail(str_cat("page header has a negative size (compressed ", h.compressed_page_size,
                   ", uncompressed ", h.uncompressed_page_size, ")"));
  *header_size = r.position();
  return h;
}

}  // namespace omnitune::parquet
