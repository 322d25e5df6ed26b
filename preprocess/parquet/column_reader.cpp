// Column chunk decoding (see column_reader.h). Layout of the pages it reads:
//   DATA_PAGE (v1): the whole page is compressed; inside, RLE definition levels behind a 4-byte
//     length (only when the column is nullable), then the values.
//   DATA_PAGE_V2: definition levels first, uncompressed, their length in the header; then the
//     values, compressed only when is_compressed.
//   DICTIONARY_PAGE: PLAIN values that later RLE_DICTIONARY / PLAIN_DICTIONARY pages index.
#include "parquet/column_reader.h"

#include <algorithm>

#include "core/error.h"
#include "parquet/compression.h"
#include "parquet/encoding.h"
#include "parquet/rle.h"

namespace omnitune::parquet {

namespace {

int32_t thrift_type_of(PhysicalType t) {
  switch (t) {
    case PhysicalType::Boolean: return 0;
    case PhysicalType::Int32: return 1;
    case PhysicalType::Int64: return 2;
    case PhysicalType::Int96: return 3;
    case PhysicalType::Float: return 4;
    case PhysicalType::Double: return 5;
    case PhysicalType::ByteArray: return 6;
    case PhysicalType::FixedLenByteArray: return 7;
  }
  return -1;
}

std::string join_path(const std::vector<std::string>& parts) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) s += '.';
    s += parts[i];
  }
  return s;
}

// One page as found in the chunk: its header and its (still compressed) body.
struct RawPage {
  PageHeader header;
  const uint8_t* body = nullptr;
  size_t body_size = 0;
  uint64_t file_offset = 0;  // where the page header starts, for messages
  int index = 0;             // position in the chunk, dictionary page included
};

// Steps through the pages of a chunk held in memory.
class PageWalker {
 public:
  PageWalker(const std::vector<uint8_t>& chunk, uint64_t chunk_offset, const std::string& context)
      : chunk_(chunk), chunk_offset_(chunk_offset), context_(context) {}

  bool at_end() const { return pos_ >= chunk_.size(); }

  RawPage next() {
    RawPage p;
    p.index = index_++;
    p.file_offset = chunk_offset_ + pos_;
    const std::string where =
        str_cat(context_, ": page ", p.index, " header at file offset ", p.file_offset);
    size_t header_size = 0;
    p.header = parse_page_header(chunk_.data() + pos_, chunk_.size() - pos_, where, &header_size);
    pos_ += header_size;
    const auto body = static_cast<size_t>(p.header.compressed_page_size);
    if (body > chunk_.size() - pos_)
      OT_FAIL(where, ": page of ", body, " bytes runs past the end of the column chunk (",
              chunk_.size() - pos_, " bytes left)");
    p.body = chunk_.data() + pos_;
    p.body_size = body;
    pos_ += body;
    return p;
  }

 private:
  const std::vector<uint8_t>& chunk_;
  uint64_t chunk_offset_;
  const std::string& context_;
  size_t pos_ = 0;
  int index_ = 0;
};

std::string page_context(const std::string& context, const RawPage& p) {
  return str_cat(context, ": page ", p.index, " (", page_type_name(p.header.type),
                 " at file offset ", p.file_offset, ")");
}

// Appends one page's rows to `out`. `levels` holds one definition level per row (nullptr when
// the column is REQUIRED: every row present). Row r takes value idx[k] (or k without idx) of
// `src`, k counting the present rows so far.
void append_rows(ColumnData* out, const uint32_t* levels, size_t rows, uint32_t max_def,
                 const DecodedValues& src, const uint32_t* idx) {
  const size_t base = out->valid.size();
  out->valid.resize(base + rows);
  const bool is_int = out->type == PhysicalType::Boolean || out->type == PhysicalType::Int32 ||
                      out->type == PhysicalType::Int64;
  const bool is_float = out->type == PhysicalType::Float || out->type == PhysicalType::Double;
  if (is_int) out->ints.resize(base + rows);
  else if (is_float) out->floats.resize(base + rows);
  else out->bytes.resize(base + rows);
  size_t k = 0;
  for (size_t r = 0; r < rows; ++r) {
    if (levels && levels[r] != max_def) continue;  // valid stays 0, value stays zero/empty
    const size_t j = idx ? idx[k] : k;
    ++k;
    out->valid[base + r] = 1;
    if (is_int) out->ints[base + r] = src.ints[j];
    else if (is_float) out->floats[base + r] = src.floats[j];
    else out->bytes[base + r].assign(src.bytes[j].data(), src.bytes[j].size());
  }
}

// State while decoding one chunk.
class ChunkDecoder {
 public:
  ChunkDecoder(const ColumnInfo& column, int32_t codec, int64_t num_rows, const std::string& context)
      : column_(column), codec_(codec), num_rows_(num_rows), context_(context) {
    out_.type = column.type;
    value_type_.type = column.type;
    value_type_.type_length = column.type_length;
  }

  int64_t rows_done() const { return rows_done_; }
  ColumnData take() { return std::move(out_); }

  void add_page(const RawPage& p) {
    const std::string ctx = page_context(context_, p);
    switch (static_cast<PageType>(p.header.type)) {
      case PageType::DictionaryPage: return dictionary_page(p, ctx);
      case PageType::DataPage: return data_page_v1(p, ctx);
      case PageType::DataPageV2: return data_page_v2(p, ctx);
      default: return;  // index pages and future page types carry no values for us
    }
  }

 private:
  void dictionary_page(const RawPage& p, const std::string& ctx) {
    if (!p.header.has_dictionary_page_header)
      OT_FAIL(ctx, ": dictionary page without a dictionary page header");
    if (have_dict_) OT_FAIL(ctx, ": second dictionary page in one column chunk");
    if (data_pages_ > 0) OT_FAIL(ctx, ": dictionary page after data pages");
    const DictionaryPageHeader& h = p.header.dictionary_page_header;
    if (h.encoding != static_cast<int32_t>(Encoding::Plain) &&
        h.encoding != static_cast<int32_t>(Encoding::PlainDictionary))
      OT_FAIL(ctx, ": dictionary page encoding ", encoding_name(h.encoding), " is not supported");
    if (h.num_values < 0) OT_FAIL(ctx, ": dictionary has ", h.num_values, " values");
    dict_buffer_ = decompress(codec_, p.body, p.body_size,
                              static_cast<size_t>(p.header.uncompressed_page_size), ctx);
    decode_plain(dict_buffer_.data(), dict_buffer_.size(), static_cast<size_t>(h.num_values),
                 value_type_, &dict_, ctx);
    have_dict_ = true;
  }

  void data_page_v1(const RawPage& p, const std::string& ctx) {
    if (!p.header.has_data_page_header) OT_FAIL(ctx, ": data page without a data page header");
    const DataPageHeader& h = p.header.data_page_header;
    const size_t rows = begin_data_page(h.num_values, ctx);
    const std::vector<uint8_t> page = decompress(
        codec_, p.body, p.body_size, static_cast<size_t>(p.header.uncompressed_page_size), ctx);
    size_t pos = 0;
    if (column_.max_def_level > 0) {
      if (h.definition_level_encoding != static_cast<int32_t>(Encoding::Rle))
        OT_FAIL(ctx, ": definition level encoding ", encoding_name(h.definition_level_encoding),
                " is not supported (only RLE)");
      if (page.size() < 4) OT_FAIL(ctx, ": page too short for its definition level length");
      const uint32_t len = static_cast<uint32_t>(page[0]) | static_cast<uint32_t>(page[1]) << 8 |
                           static_cast<uint32_t>(page[2]) << 16 | static_cast<uint32_t>(page[3]) << 24;
      if (len > page.size() - 4)
        OT_FAIL(ctx, ": definition levels claim ", len, " bytes, the page has ", page.size() - 4);
      decode_levels(page.data() + 4, len, rows, ctx);
      pos = 4 + len;
    }
    decode_page_values(h.encoding, page.data() + pos, page.size() - pos, rows, ctx);
  }

  void data_page_v2(const RawPage& p, const std::string& ctx) {
    if (!p.header.has_data_page_header_v2)
      OT_FAIL(ctx, ": data page v2 without a data page v2 header");
    const DataPageHeaderV2& h = p.header.data_page_header_v2;
    const size_t rows = begin_data_page(h.num_values, ctx);
    if (h.num_rows != h.num_values)
      OT_FAIL(ctx, ": page has ", h.num_values, " values in ", h.num_rows,
              " rows, which only repeated columns can have");
    if (h.repetition_levels_byte_length != 0)
      OT_FAIL(ctx, ": page has repetition levels but column '", column_.path, "' is not repeated");
    if (h.definition_levels_byte_length < 0 ||
        static_cast<size_t>(h.definition_levels_byte_length) > p.body_size ||
        h.definition_levels_byte_length > p.header.uncompressed_page_size)
      OT_FAIL(ctx, ": definition level length ", h.definition_levels_byte_length,
              " does not fit the page of ", p.body_size, " bytes");
    const auto levels_len = static_cast<size_t>(h.definition_levels_byte_length);
    if (column_.max_def_level > 0) {
      decode_levels(p.body, levels_len, rows, ctx);
      const size_t nulls = rows - present_;
      if (h.num_nulls < 0 || static_cast<size_t>(h.num_nulls) != nulls)
        OT_FAIL(ctx, ": header says ", h.num_nulls, " nulls, the definition levels hold ", nulls);
    }
    const uint8_t* values = p.body + levels_len;
    const size_t values_size = p.body_size - levels_len;
    const size_t values_raw =
        static_cast<size_t>(p.header.uncompressed_page_size) - levels_len;
    if (h.is_compressed && static_cast<Codec>(codec_) != Codec::Uncompressed) {
      const std::vector<uint8_t> buf = decompress(codec_, values, values_size, values_raw, ctx);
      decode_page_values(h.encoding, buf.data(), buf.size(), rows, ctx);
    } else {
      if (values_size != values_raw)
        OT_FAIL(ctx, ": uncompressed values have ", values_size, " bytes, the header says ",
                values_raw);
      decode_page_values(h.encoding, values, values_size, rows, ctx);
    }
  }

  // Checks the page's row count and resets per-page state; returns the rows in the page.
  size_t begin_data_page(int32_t num_values, const std::string& ctx) {
    ++data_pages_;
    if (num_values < 0) OT_FAIL(ctx, ": page has ", num_values, " values");
    if (num_values > num_rows_ - rows_done_)
      OT_FAIL(ctx, ": page has ", num_values, " rows but only ", num_rows_ - rows_done_,
              " of the row group's ", num_rows_, " rows remain");
    const auto rows = static_cast<size_t>(num_values);
    levels_.clear();
    present_ = rows;
    return rows;
  }

  void decode_levels(const uint8_t* data, size_t size, size_t rows, const std::string& ctx) {
    const auto max_def = static_cast<uint32_t>(column_.max_def_level);
    levels_.resize(rows);
    decode_rle_hybrid(data, size, bit_width_for(max_def), rows, levels_.data(), ctx,
                      "definition levels");
    present_ = 0;
    for (uint32_t l : levels_) {
      if (l > max_def)
        OT_FAIL(ctx, ": definition level ", l, " exceeds the column's maximum ", max_def);
      if (l == max_def) ++present_;
    }
  }

  void decode_page_values(int32_t encoding, const uint8_t* data, size_t size, size_t rows,
                          const std::string& ctx) {
    const uint32_t* levels = column_.max_def_level > 0 ? levels_.data() : nullptr;
    const auto max_def = static_cast<uint32_t>(column_.max_def_level);
    if (encoding == static_cast<int32_t>(Encoding::RleDictionary) ||
        encoding == static_cast<int32_t>(Encoding::PlainDictionary)) {
      if (!have_dict_)
        OT_FAIL(ctx, ": dictionary-encoded page but the column chunk has no dictionary page");
      decode_dictionary_indices(data, size, present_, &indices_, ctx);
      const size_t dict_size = dict_.size();
      for (uint32_t i : indices_)
        if (i >= dict_size)
          OT_FAIL(ctx, ": dictionary index ", i, " is out of range (dictionary has ", dict_size,
                  " values)");
      append_rows(&out_, levels, rows, max_def, dict_, indices_.data());
    } else {
      DecodedValues values;
      decode_values(encoding, data, size, present_, value_type_, &values, ctx);
      OT_CHECK(values.size() == present_, "decoder returned ", values.size(), " values for ",
               present_);
      append_rows(&out_, levels, rows, max_def, values, nullptr);
    }
    rows_done_ += static_cast<int64_t>(rows);
  }

  const ColumnInfo& column_;
  int32_t codec_;
  int64_t num_rows_;
  const std::string& context_;
  ValueType value_type_;
  ColumnData out_;
  int64_t rows_done_ = 0;
  int data_pages_ = 0;
  bool have_dict_ = false;
  std::vector<uint8_t> dict_buffer_;  // the dictionary's byte-array views point in here
  DecodedValues dict_;
  std::vector<uint32_t> levels_;
  std::vector<uint32_t> indices_;
  size_t present_ = 0;  // rows of the current page whose value is present
};

std::vector<uint8_t> read_chunk_bytes(const InputFile& file, const ColumnChunk& chunk,
                                      uint64_t data_end, const std::string& context,
                                      uint64_t* offset) {
  const ChunkRange range = column_chunk_range(chunk, data_end, context);
  *offset = range.offset;
  return file.read(range.offset, static_cast<size_t>(range.size), "column chunk");
}

}  // namespace

ChunkRange column_chunk_range(const ColumnChunk& chunk, uint64_t data_end,
                              const std::string& context) {
  if (!chunk.has_meta_data) OT_FAIL(context, ": column chunk has no metadata");
  const ColumnMetaData& m = chunk.meta_data;
  // Pages start at the dictionary page when there is one. Some writers store 0 for "no
  // dictionary page", and 0 is never a valid page offset (the file starts with PAR1).
  int64_t start = m.data_page_offset;
  if (m.has_dictionary_page_offset && m.dictionary_page_offset > 0 &&
      m.dictionary_page_offset < start)
    start = m.dictionary_page_offset;
  if (start < 4 || m.total_compressed_size < 0 || static_cast<uint64_t>(start) > data_end ||
      static_cast<uint64_t>(m.total_compressed_size) > data_end - static_cast<uint64_t>(start))
    OT_FAIL(context, ": column chunk (offset ", start, ", ", m.total_compressed_size,
            " bytes) lies outside the data area of the file (bytes 4 to ", data_end,
            "); the file is corrupt");
  return ChunkRange{static_cast<uint64_t>(start), static_cast<uint64_t>(m.total_compressed_size)};
}

void check_column_chunk(const ColumnChunk& chunk, const ColumnInfo& column,
                        const std::string& context) {
  if (!chunk.file_path.empty())
    OT_FAIL(context, ": column data lives in another file ('", chunk.file_path,
            "'), which is not supported");
  if (!chunk.has_meta_data) OT_FAIL(context, ": column chunk has no metadata");
  const ColumnMetaData& m = chunk.meta_data;
  if (m.type != thrift_type_of(column.type))
    OT_FAIL(context, ": column chunk has type ", thrift_type_name(m.type), " but the schema says ",
            physical_type_name(column.type));
  if (!m.path_in_schema.empty() && join_path(m.path_in_schema) != column.path)
    OT_FAIL(context, ": column chunk belongs to '", join_path(m.path_in_schema),
            "', not to the schema's column '", column.path, "'");
}

ColumnData read_column_chunk(const InputFile& file, const ColumnChunk& chunk,
                             const ColumnInfo& column, int64_t num_rows, uint64_t data_end,
                             const std::string& context) {
  if (column.max_rep_level > 0)
    OT_FAIL(file.path(), ": repeated/list columns are not supported: column '", column.path, "'");
  if (column.type == PhysicalType::Int96)
    OT_FAIL(file.path(), ": INT96 (legacy timestamp) columns are not supported: column '",
            column.path, "'; re-write the file with timestamps as INT64 (pyarrow's default)");
  check_column_chunk(chunk, column, context);
  require_codec_supported(chunk.meta_data.codec, context);
  uint64_t offset = 0;
  const std::vector<uint8_t> bytes = read_chunk_bytes(file, chunk, data_end, context, &offset);
  ChunkDecoder decoder(column, chunk.meta_data.codec, num_rows, context);
  PageWalker pages(bytes, offset, context);
  while (decoder.rows_done() < num_rows) {
    if (pages.at_end())
      OT_FAIL(context, ": column chunk ends after ", decoder.rows_done(), " of ", num_rows,
              " rows");
    decoder.add_page(pages.next());
  }
  return decoder.take();
}

std::vector<PageInfo> read_page_infos(const InputFile& file, const ColumnChunk& chunk,
                                      const ColumnInfo& column, int64_t num_rows,
                                      uint64_t data_end, const std::string& context) {
  check_column_chunk(chunk, column, context);
  uint64_t offset = 0;
  const std::vector<uint8_t> bytes = read_chunk_bytes(file, chunk, data_end, context, &offset);
  PageWalker pages(bytes, offset, context);
  std::vector<PageInfo> infos;
  int64_t values = 0;
  while (values < num_rows && !pages.at_end()) {
    const RawPage p = pages.next();
    PageInfo info;
    info.page_type = page_type_name(p.header.type);
    info.compressed_size = p.header.compressed_page_size;
    info.uncompressed_size = p.header.uncompressed_page_size;
    if (p.header.has_dictionary_page_header) {
      info.encoding = encoding_name(p.header.dictionary_page_header.encoding);
      info.num_values = p.header.dictionary_page_header.num_values;
    } else if (p.header.has_data_page_header) {
      info.encoding = encoding_name(p.header.data_page_header.encoding);
      info.num_values = p.header.data_page_header.num_values;
      values += std::max(0, info.num_values);
    } else if (p.header.has_data_page_header_v2) {
      info.encoding = encoding_name(p.header.data_page_header_v2.encoding);
      info.num_values = p.header.data_page_header_v2.num_values;
      values += std::max(0, p.header.data_page_header_v2.num_rows);
    }
    infos.push_back(info);
  }
  return infos;
}

}  // namespace omnitune::parquet
