// The RLE / bit-packed hybrid encoding Parquet uses for definition levels, dictionary indices and
// RLE booleans, plus the LSB-first bit unpacking it shares with DELTA_BINARY_PACKED. Every read is
// bounds-checked against the given byte range because level and index data come from the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace omnitune::parquet {

// Reads `width` (0..64) bits starting `bit_offset` bits into `data`, least significant bit first.
// The caller guarantees the bits lie inside its buffer.
uint64_t read_bits(const uint8_t* data, size_t bit_offset, int width);

// Number of bits needed to store values 0..max_value (0 for max_value 0).
int bit_width_for(uint32_t max_value);

// Decodes exactly `count` values of `bit_width` (0..32) bits from hybrid data in data[0, size)
// into out[0, count). Throws Error "<context>: <what>: ..." when the data ends early or is
// malformed. Returns the number of bytes consumed.
size_t decode_rle_hybrid(const uint8_t* data, size_t size, int bit_width, size_t count,
                         uint32_t* out, const std::string& context, const char* what);

}  // namespace omnitune::parquet
