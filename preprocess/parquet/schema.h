// Turns Parquet's flat, depth-first list of SchemaElements into the leaf columns a reader can
// address by dotted path, with the maximum definition/repetition levels each leaf's pages encode.
// The list comes from the file, so child counts and nesting are validated, never trusted.
#pragma once

#include <string>
#include <vector>

#include "parquet/metadata.h"
#include "parquet/types.h"

namespace omnitune::parquet {

// Leaf columns in schema order (the order of ColumnChunks in every row group).
std::vector<ColumnInfo> flatten_schema(const std::vector<SchemaElement>& schema,
                                       const std::string& context);

}  // namespace omnitune::parquet
