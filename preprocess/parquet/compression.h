// Page decompression for the codecs pyarrow, Hugging Face datasets and DuckDB write: Snappy (the
// pyarrow default), GZIP, ZSTD and none. Other codecs are rejected by name so the user knows to
// re-write the file rather than seeing a decode failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace omnitune::parquet {

// True for UNCOMPRESSED, SNAPPY, GZIP and ZSTD.
bool codec_supported(int32_t codec);

// Throws Error "<context>: compression codec <NAME> is not supported ..." unless supported.
void require_codec_supported(int32_t codec, const std::string& context);

// Decompresses src[0, src_size) into exactly `uncompressed_size` bytes. A stream that is corrupt
// or whose decompressed length differs from `uncompressed_size` is an Error naming `context`.
std::vector<uint8_t> decompress(int32_t codec, const uint8_t* src, size_t src_size,
                                size_t uncompressed_size, const std::string& context);

}  // namespace omnitune::parquet
