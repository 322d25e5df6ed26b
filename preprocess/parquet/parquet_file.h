// Public API of omnitune's Parquet reader: open a file (footer only), list its leaf columns, and
// read one column of one row group at a time, so memory stays bounded by a row group column even
// for MedPix files that embed hundreds of MB of images. No Arrow: Debian 12 packages none.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "parquet/types.h"

namespace omnitune::parquet {

class InputFile;
struct FileMetaData;

class ParquetFile {
 public:
  // Reads and validates the footer and schema. Error (naming the file and what is wrong) if the
  // file is missing, not Parquet, truncated, encrypted or has inconsistent metadata.
  static ParquetFile open(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t num_rows() const;
  int num_row_groups() const;
  int64_t row_group_num_rows(int row_group) const;  // Error if row_group is out of range
  const std::string& created_by() const;            // writer, e.g. "parquet-cpp-arrow version 14.0.1"

  // Leaf columns in schema order; nested fields are dotted ("image.bytes", "image.path").
  const std::vector<ColumnInfo>& columns() const { return columns_; }
  int column_index(const std::string& path) const;  // -1 if absent

  // One column of one row group, one entry per row. Error if the column is absent (naming the
  // closest column names), repeated, INT96, compressed with an unsupported codec, or corrupt.
  // Safe to call from several threads at once.
  ColumnData read_column(int row_group, const std::string& path) const;
  ColumnData read_column(int row_group, int column) const;

  // How the column chunk's pages are stored (types, encodings, sizes); for diagnostics.
  std::vector<PageInfo> page_infos(int row_group, const std::string& path) const;

  // File-level key-value metadata, e.g. "huggingface" (feature JSON) and "ARROW:schema".
  std::map<std::string, std::string> key_value_metadata() const;

 private:
  ParquetFile() = default;
  int require_column(const std::string& path) const;
  void require_row_group(int row_group) const;
  std::string chunk_context(int row_group, int column) const;

  std::string path_;
  std::shared_ptr<const InputFile> file_;
  std::shared_ptr<const FileMetaData> meta_;
  std::vector<ColumnInfo> columns_;
  uint64_t data_end_ = 0;  // first byte of the footer; column chunks lie in [4, data_end_)
};

}  // namespace omnitune::parquet
