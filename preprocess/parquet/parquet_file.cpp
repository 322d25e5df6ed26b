// ParquetFile (see parquet_file.h). The file ends with the Thrift-encoded FileMetaData, its
// 4-byte little-endian length and the magic "PAR1"; it also starts with "PAR1". open() checks all
// of that plus the consistency of schema, row groups and chunk offsets before any page is read.
#include "parquet/parquet_file.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include "core/error.h"
#include "core/text_util.h"
#include "parquet/column_reader.h"
#include "parquet/input_file.h"
#include "parquet/metadata.h"
#include "parquet/schema.h"

namespace omnitune::parquet {

namespace {

constexpr uint64_t kMagicSize = 4;
constexpr uint64_t kFooterTailSize = 8;  // metadata length + trailing magic

std::string printable(const std::vector<uint8_t>& bytes) {
  std::string s;
  for (uint8_t b : bytes) {
    if (b >= 0x20 && b < 0x7f) {
      s += static_cast<char>(b);
    } else {
      static const char* hex = "0123456789abcdef";
      s += "\\x";
      s += hex[b >> 4];
      s += hex[b & 15];
    }
  }
  return s;
}



}  // namespace

ParquetFile ParquetFile::open(const std::string& path) {
  ParquetFile f;
  f.path_ = path;
  auto file = std::make_shared<InputFile>(path);
  const uint64_t size = file->size();
  if (size < kMagicSize + kFooterTailSize)
    OT_FAIL(path, " is not a parquet file: it has ", size,
            " bytes, fewer than the 12 of the smallest parquet file (PAR1, footer length, PAR1)");

  const std::vector<uint8_t> head = file->read(0, kMagicSize, "header magic");
  const std::vector<uint8_t> tail = file->read(size - kFooterTailSize, kFooterTailSize, "footer");
  const std::vector<uint8_t> tail_magic(tail.begin() + 4, tail.end());
  if (std::memcmp(tail_magic.data(), "PARE", 4) == 0)
    OT_FAIL(path, " is an encrypted parquet file (footer magic PARE), which is not supported");
  if (std::memcmp(tail_magic.data(), "PAR1", 4) != 0)
    OT_FAIL(path, " is not a parquet file, or it is truncated: it does not end with the magic "
            "bytes PAR1 (found '", printable(tail_magic), "'); re-download or re-export it");
  if (std::memcmp(head.data(), "PAR1", 4) != 0)
    OT_FAIL(path, " is not a parquet file: it ends with PAR1 but starts with '", printable(head),
            "' instead of PAR1");

  const uint64_t meta_len = static_cast<uint64_t>(tail[0]) | static_cast<uint64_t>(tail[1]) << 8 |
                            static_cast<uint64_t>(tail[2]) << 16 |
                            static_cast<uint64_t>(tail[3]) << 24;
  if (meta_len > size - kMagicSize - kFooterTailSize)
    OT_FAIL(path, ": corrupt footer: file metadata length ", meta_len,
            " is larger than the file allows (", size - kMagicSize - kFooterTailSize,
            " bytes); the file is truncated or corrupt");
  f.data_end_ = size - kFooterTailSize - meta_len;
  const std::vector<uint8_t> footer = file->read(f.data_end_, static_cast<size_t>(meta_len),
                                                 "file metadata");
  auto meta = std::make_shared<FileMetaData>(
      parse_file_metadata(footer.data(), footer.size(), path + ": corrupt file metadata"));
  f.columns_ = flatten_schema(meta->schema, path + ": corrupt schema");

  // Row groups must add up and each must hold one chunk per leaf column inside the data area.
  if (meta->num_rows < 0) OT_FAIL(path, ": corrupt file metadata: ", meta->num_rows, " rows");
  int64_t total = 0;
  for (size_t g = 0; g < meta->row_groups.size(); ++g) {
    const RowGroup& rg = meta->row_groups[g];
    if (rg.num_rows < 0 || rg.num_rows > meta->num_rows - total)
      OT_FAIL(path, ": corrupt file metadata: row group ", g, " has ", rg.num_rows,
              " rows, inconsistent with the file's ", meta->num_rows);
    total += rg.num_rows;
    if (rg.columns.size() != f.columns_.size())
      OT_FAIL(path, ": corrupt file metadata: row group ", g, " has ", rg.columns.size(),
              " column chunks, the schema has ", f.columns_.size(), " leaf columns");
    for (size_t c = 0; c < rg.columns.size(); ++c) {
      const std::string ctx = str_cat(path, ": row group ", g, ", column '", f.columns_[c].path, "'");
      check_column_chunk(rg.columns[c], f.columns_[c], ctx);
      column_chunk_range(rg.columns[c], f.data_end_, ctx);
    }
  }
  if (total != meta->num_rows)
    OT_FAIL(path, ": corrupt file metadata: row groups hold ", total, " rows, the file says ",
            meta->num_rows);
  f.file_ = std::move(file);
  f.meta_ = std::move(meta);
  return f;
}

int64_t ParquetFile::num_rows() const { return meta_->num_rows; }

int ParquetFile::num_row_groups() const { return static_cast<int>(meta_->row_groups.size()); }

int64_t ParquetFile::row_group_num_rows(int row_group) const {
  require_row_group(row_group);
  return meta_->row_groups[static_cast<size_t>(row_group)].num_rows;
}

const std::string& ParquetFile::created_by() const { return meta_->created_by; }

int ParquetFile::column_index(const std::string& path) const {
  for (size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i].path == path) return static_cast<int>(i);
  return -1;
}

void ParquetFile::require_row_group(int row_group) const {
  if (row_group < 0 || row_group >= num_row_groups())
    OT_FAIL(path_, ": row group ", row_group, " does not exist (the file has ", num_row_groups(),
            " row groups)");
}

int ParquetFile::require_column(const std::string& path) const {
  const int idx = column_index(path);
  if (idx >= 0) return idx;
  // Suggest the nearest names: a typo, or a struct name given without its field.
  std::vector<std::pair<size_t, std::string>> ranked;
  for (const ColumnInfo& c : columns_) {
    size_t d = edit_distance(path, c.path);
    if (c.path.compare(0, path.size() + 1, path + ".") == 0) d = 0;  // "image" → "image.bytes"
    ranked.emplace_back(d, c.path);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string closest;
  for (size_t i = 0; i < ranked.size() && i < 3; ++i)
    closest += str_cat(i ? ", " : "", "'", ranked[i].second, "'");
  std::string all;
  for (size_t i = 0; i < columns_.size(); ++i) all += str_cat(i ? ", " : "", columns_[i].path);
  OT_FAIL(path_, ": no column '", path, "'", closest.empty() ? "" : "; closest: ", closest,
          ". Columns: ", all);
}

std::string ParquetFile::chunk_context(int row_group, int column) const {
  return str_cat(path_, ": row group ", row_group, ", column '",
                 columns_[static_cast<size_t>(column)].path, "'");
}

ColumnData ParquetFile::read_column(int row_group, const std::string& path) const {
  return read_column(row_group, require_column(path));
}

ColumnData ParquetFile::read_column(int row_group, int column) const {
  require_row_group(row_group);
  if (column < 0 || static_cast<size_t>(column) >= columns_.size())
    OT_FAIL(path_, ": column index ", column, " is out of range (the file has ", columns_.size(),
            " leaf columns)");
  const RowGroup& rg = meta_->row_groups[static_cast<size_t>(row_group)];
  const std::string context = chunk_context(row_group, column);
  try {
    return read_column_chunk(*file_, rg.columns[static_cast<size_t>(column)],
                             columns_[static_cast<size_t>(column)], rg.num_rows, data_end_, context);
  } catch (const std::bad_alloc&) {
    // Sizes and counts are validated, but a corrupt file can still describe more rows than
    // fit in memory; report it like any other bad file.
    OT_FAIL(context, ": not enough memory to decode this column chunk (", rg.num_rows,
            " rows); is the file corrupt?");
  } catch (const std::length_error&) {
    OT_FAIL(context, ": column chunk describes more data than can be held; is the file corrupt?");
  }
}

std::vector<PageInfo> ParquetFile::page_infos(int row_group, const std::string& path) const {
  const int column = require_column(path);
  require_row_group(row_group);
  const RowGroup& rg = meta_->row_groups[static_cast<size_t>(row_group)];
  return read_page_infos(*file_, rg.columns[static_cast<size_t>(column)],
                         columns_[static_cast<size_t>(column)], rg.num_rows, data_end_,
                         chunk_context(row_group, column));
}

std::map<std::string, std::string> ParquetFile::key_value_metadata() const {
  std::map<std::string, std::string> kv;
  for (const KeyValue& e : meta_->key_value_metadata) kv[e.key] = e.value;
  return kv;
}

}  // namespace omnitune::parquet
