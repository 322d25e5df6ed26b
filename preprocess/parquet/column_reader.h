// Reads one column chunk (one leaf column of one row group): walks its pages, decompresses them,
// decodes definition levels and values, and spreads the values over rows. Handles a dictionary
// page followed by dictionary-encoded pages and PLAIN pages (pyarrow's fallback mid-chunk).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parquet/input_file.h"
#include "parquet/metadata.h"
#include "parquet/types.h"

namespace omnitune::parquet {

// Byte range of a column chunk in the file.
struct ChunkRange {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Where the chunk's pages lie, checked to be inside the data area [4, data_end) of the file
// (data_end is where the footer starts). Error naming `context` otherwise.
ChunkRange column_chunk_range(const ColumnChunk& chunk, uint64_t data_end,
                              const std::string& context);

// Checks what can be checked without reading pages: the chunk has metadata in this file, its
// type and path match the schema leaf, and its codec is supported. Error naming `context`.
void check_column_chunk(const ColumnChunk& chunk, const ColumnInfo& column,
                        const std::string& context);

// Materialises `num_rows` rows of `column` from `chunk`. `context` names the file, row group and
// column ("x.parquet: row group 0, column 'image.bytes'"); page errors add the page.
ColumnData read_column_chunk(const InputFile& file, const ColumnChunk& chunk,
                             const ColumnInfo& column, int64_t num_rows, uint64_t data_end,
                             const std::string& context);

// The chunk's pages as stored (type, encoding, counts, sizes), without decoding values.
std::vector<PageInfo> read_page_infos(const InputFile& file, const ColumnChunk& chunk,
                                      const ColumnInfo& column, int64_t num_rows,
                                      uint64_t data_end, const std::string& context);

}  // namespace omnitune::parquet
