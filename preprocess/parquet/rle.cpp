// RLE / bit-packed hybrid decoding (see rle.h). A run header is a ULEB128 varint: low bit 1 means
// (header >> 1) groups of 8 bit-packed values, low bit 0 means one value repeated (header >> 1)
// times, stored in ceil(bit_width / 8) little-endian bytes.
#include "parquet/rle.h"

#include <algorithm>

#include "core/error.h"

namespace omnitune::parquet {

uint64_t read_bits(const uint8_t* data, size_t bit_offset, int width) {
  uint64_t v = 0;
  int got = 0;
  while (got < width) {
    const size_t bit = bit_offset + static_cast<size_t>(got);
    const int shift = static_cast<int>(bit & 7);
    const int take = std::min(8 - shift, width - got);
    const uint64_t bits = (static_cast<uint64_t>(data[bit >> 3]) >> shift) & ((1u << take) - 1);
    v |= bits << got;
    got += take;
  }
  return v;
}

int bit_width_for(uint32_t max_value) {
  int w = 0;
  while (w < 32 && (max_value >> w) != 0) ++w;
  return w;
}

size_t decode_rle_hybrid(const uint8_t* data, size_t size, int bit_width, size_t count,
                         uint32_t* out, const std::string& context, const char* what) {
  if (bit_width < 0 || bit_width > 32)
    OT_FAIL(context, ": ", what, ": invalid bit width ", bit_width);
  size_t pos = 0;
  size_t done = 0;
  while (done < count) {
    // Run header varint.
    uint64_t header = 0;
    int shift = 0;
    while (true) {
      if (pos >= size)
        OT_FAIL(context, ": ", what, ": data ends after ", done, " of ", count, " values");
      const uint8_t b = data[pos++];
      header |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
      shift += 7;
      if (shift > 35) OT_FAIL(context, ": ", what, ": run header varint is too long");
    }
    const size_t wanted = count - done;
    if (header & 1) {
      // Bit-packed run. Writers may stop the last run's bytes at the last real value, so only
      // the values still wanted must be present.
      const uint64_t values = (header >> 1) * 8;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(values, wanted));
      const size_t need = (n * static_cast<size_t>(bit_width) + 7) / 8;
      if (need > size - pos)
        OT_FAIL(context, ": ", what, ": bit-packed run of ", n, " values needs ", need,
                " bytes but only ", size - pos, " remain");
      for (size_t i = 0; i < n; ++i)
        out[done + i] = static_cast<uint32_t>(read_bits(data + pos, i * static_cast<size_t>(bit_width), bit_width));
      done += n;
      const uint64_t full = (header >> 1) * static_cast<uint64_t>(bit_width);  // bytes in the run
      pos += static_cast<size_t>(std::min<uint64_t>(full, size - pos));
    } else {
      const uint64_t run = header >> 1;
      const size_t value_bytes = (static_cast<size_t>(bit_width) + 7) / 8;
      if (value_bytes > size - pos)
        OT_FAIL(context, ": ", what, ": RLE run value is truncated");
      uint32_t value = 0;
      for (size_t i = 0; i < value_bytes; ++i) value |= static_cast<uint32_t>(data[pos + i]) << (8 * i);
      pos += value_bytes;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(run, wanted));
      std::fill(out + done, out + done + n, value);
      done += n;
    }
  }
  return pos;
}

}  // namespace omnitune::parquet
