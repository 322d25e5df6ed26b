// Small text helpers used by error messages across layers: edit distance for "did you mean"
// suggestions (config keys, tensor names, Parquet columns) and a hex preview of unknown bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace omnitune {

// Levenshtein distance on at most the first 256 bytes of each string (enough to rank names,
// bounded cost on hostile input).
size_t edit_distance(const std::string& a, const std::string& b);

// "89 50 4e 47 0d 0a 1a 0a": the first `max` bytes in hex, for "this is not an image" messages.
std::string hex_prefix(const uint8_t* data, size_t n, size_t max = 8);

}  // namespace omnitune
