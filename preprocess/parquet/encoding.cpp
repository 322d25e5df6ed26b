// Page value decoders (see encoding.h). Layouts follow the Parquet format spec (Encodings.md);
// fixed-width values are assembled byte by byte so the code does not depend on host endianness
// or alignment, and every count read from the page is checked before it is used.
#include "parquet/encoding.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "parquet/metadata.h"
#include "parquet/rle.h"

namespace omnitune::parquet {

namespace {

// A DELTA_BYTE_ARRAY page rebuilds each value from a prefix of the previous one, so a few bytes
// can describe gigabytes; this bound turns such a page into an Error instead of exhausting memory.
constexpr size_t kMaxRebuiltPageBytes = size_t{1} << 30;

uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

uint64_t load_u64(const uint8_t* p) {
  return static_cast<uint64_t>(load_u32(p)) | static_cast<uint64_t>(load_u32(p + 4)) << 32;
}

double float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return static_cast<double>(f);
}

double double_from_bits(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// Byte width of a fixed-width physical type (0 for BYTE_ARRAY and BOOLEAN).
size_t fixed_width(const ValueType& t) {
  switch (t.type) {
    case PhysicalType::Int32:
    case PhysicalType::Float: return 4;
    case PhysicalType::Int64:
    case PhysicalType::Double: return 8;
    case PhysicalType::Int96: return 12;
    case PhysicalType::FixedLenByteArray: return static_cast<size_t>(t.type_length);
    case PhysicalType::Boolean:
    case PhysicalType::ByteArray: return 0;
  }
  return 0;
}

// Stores one fixed-width little-endian value of type `t` found at `p`.
void push_fixed(const uint8_t* p, const ValueType& t, DecodedValues* out) {
  switch (t.type) {
    case PhysicalType::Int32: out->ints.push_back(static_cast<int32_t>(load_u32(p))); break;
    case PhysicalType::Int64: out->ints.push_back(static_cast<int64_t>(load_u64(p))); break;
    case PhysicalType::Float: out->floats.push_back(float_from_bits(load_u32(p))); break;
    case PhysicalType::Double: out->floats.push_back(double_from_bits(load_u64(p))); break;
    default:
      out->bytes.emplace_back(reinterpret_cast<const char*>(p), static_cast<size_t>(t.type_length));
  }
}

// Sequential reader of the varints in DELTA_BINARY_PACKED headers.
struct Cursor {
  const uint8_t* data;
  size_t size;
  size_t pos;
  const std::string& context;

  uint64_t varint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= size) OT_FAIL(context, ": DELTA_BINARY_PACKED ", what, " is truncated");
      const uint8_t b = data[pos++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    OT_FAIL(context, ": DELTA_BINARY_PACKED ", what, " varint is too long");
  }
  int64_t zigzag(const char* what) {
    const uint64_t v = varint(what);
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
};

void decode_boolean_rle(const uint8_t* data, size_t size, size_t count, DecodedValues* out,
                        const std::string& context) {
  // Data page v2 booleans: a 4-byte length, then hybrid data of bit width 1.
  if (size < 4) OT_FAIL(context, ": RLE boolean data lacks its 4-byte length");
  const uint32_t len = load_u32(data);
  if (len > size - 4)
    OT_FAIL(context, ": RLE boolean data claims ", len, " bytes but the page has ", size - 4);
  std::vector<uint32_t> bits(count);
  decode_rle_hybrid(data + 4, len, 1, count, bits.data(), context, "RLE booleans");
  out->ints.reserve(out->ints.size() + count);
  for (uint32_t b : bits) out->ints.push_back(b & 1);
}

// Integers narrower than 64 bits wrap the way their writer's 32-bit arithmetic did.
void narrow_ints(std::vector<int64_t>* values, size_t from, const ValueType& t) {
  if (t.type != PhysicalType::Int32) return;
  for (size_t i = from; i < values->size(); ++i)
    (*values)[i] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>((*values)[i])));
}

// DELTA_LENGTH_BYTE_ARRAY: DELTA_BINARY_PACKED lengths, then the values back to back.
size_t decode_delta_length(const uint8_t* data, size_t size, size_t count,
                           std::vector<std::string_view>* out, const std::string& context) {
  std::vector<int64_t> lengths;
  size_t pos = decode_delta_binary_packed(data, size, count, &lengths, context);
  out->reserve(out->size() + count);
  for (int64_t len : lengths) {
    if (len < 0 || static_cast<uint64_t>(len) > size - pos)
      OT_FAIL(context, ": DELTA_LENGTH_BYTE_ARRAY value of length ", len, " runs past the page (",
              size - pos, " bytes left)");
    out->emplace_back(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
  }
  return pos;
}

// DELTA_BYTE_ARRAY: prefix lengths (DELTA_BINARY_PACKED), then the suffixes as
// DELTA_LENGTH_BYTE_ARRAY; value i = first prefix[i] bytes of value i-1, then suffix i.
void decode_delta_byte_array(const uint8_t* data, size_t size, size_t count, const ValueType& t,
                             DecodedValues* out, const std::string& context) {
  std::vector<int64_t> prefixes;
  const size_t pos = decode_delta_binary_packed(data, size, count, &prefixes, context);
  std::vector<std::string_view> suffixes;
  decode_delta_length(data + pos, size - pos, count, &suffixes, context);
  std::vector<std::pair<size_t, size_t>> spans;  // (offset, length) in out->storage
  spans.reserve(count);
  std::string prev;
  for (size_t i = 0; i < count; ++i) {
    const int64_t prefix = prefixes[i];
    if (prefix < 0 || static_cast<uint64_t>(prefix) > prev.size())
      OT_FAIL(context, ": DELTA_BYTE_ARRAY value ", i, " has prefix length ", prefix,
              " but the previous value has ", prev.size(), " bytes");
    prev.resize(static_cast<size_t>(prefix));
    prev.append(suffixes[i]);
    if (t.type == PhysicalType::FixedLenByteArray && prev.size() != static_cast<size_t>(t.type_length))
      OT_FAIL(context, ": DELTA_BYTE_ARRAY value ", i, " has ", prev.size(),
              " bytes, the column's fixed length is ", t.type_length);
    if (out->storage.size() + prev.size() > kMaxRebuiltPageBytes)
      OT_FAIL(context, ": DELTA_BYTE_ARRAY page expands to more than ", kMaxRebuiltPageBytes,
              " bytes");
    spans.emplace_back(out->storage.size(), prev.size());
    out->storage.append(prev);
  }
  // Views are taken only now: appending above may have moved the storage.
  out->bytes.reserve(out->bytes.size() + count);
  for (const auto& [off, len] : spans) out->bytes.emplace_back(out->storage.data() + off, len);
}

// BYTE_STREAM_SPLIT: byte k of value i is at data[k * count + i].
void decode_byte_stream_split(const uint8_t* data, size_t size, size_t count, const ValueType& t,
                              DecodedValues* out, const std::string& context) {
  const size_t width = fixed_width(t);
  if (width == 0 || t.type == PhysicalType::Int96)
    OT_FAIL(context, ": BYTE_STREAM_SPLIT is not valid for ", physical_type_name(t.type), " values");
  if (count > size / width)
    OT_FAIL(context, ": BYTE_STREAM_SPLIT page has ", size, " bytes, too few for ", count,
            " values of ", width, " bytes");
  // Values are reassembled contiguously in `storage`; byte-array views are taken at the end,
  // once the storage no longer moves.
  const size_t base = out->storage.size();
  out->storage.resize(base + count * width);
  auto* dst = reinterpret_cast<uint8_t*>(&out->storage[base]);
  for (size_t i = 0; i < count; ++i)
    for (size_t k = 0; k < width; ++k) dst[i * width + k] = data[k * count + i];
  for (size_t i = 0; i < count; ++i) push_fixed(dst + i * width, t, out);
}

}  // namespace

void decode_plain(const uint8_t* data, size_t size, size_t count, const ValueType& t,
                  DecodedValues* out, const std::string& context) {
  if (t.type == PhysicalType::Boolean) {
    if ((count + 7) / 8 > size)
      OT_FAIL(context, ": PLAIN booleans need ", (count + 7) / 8, " bytes, the page has ", size);
    out->ints.reserve(out->ints.size() + count);
    for (size_t i = 0; i < count; ++i) out->ints.push_back((data[i / 8] >> (i % 8)) & 1);
    return;
  }
  if (t.type == PhysicalType::ByteArray) {
    size_t pos = 0;
    out->bytes.reserve(out->bytes.size() + std::min(count, size / 4));
    for (size_t i = 0; i < count; ++i) {
      if (size - pos < 4)
        OT_FAIL(context, ": PLAIN byte array ", i, " of ", count, " lacks its 4-byte length");
      const uint32_t len = load_u32(data + pos);
      pos += 4;
      if (len > size - pos)
        OT_FAIL(context, ": PLAIN byte array ", i, " of ", count, " claims ", len,
                " bytes but only ", size - pos, " remain in the page");
      out->bytes.emplace_back(reinterpret_cast<const char*>(data + pos), len);
      pos += len;
    }
    return;
  }
  const size_t width = fixed_width(t);
  if (t.type == PhysicalType::Int96 || width == 0)
    OT_FAIL(context, ": PLAIN decoding of ", physical_type_name(t.type), " is not supported");
  if (count > size / width)
    OT_FAIL(context, ": PLAIN page has ", size, " bytes, too few for ", count, " values of ",
            width, " bytes");
  for (size_t i = 0; i < count; ++i) push_fixed(data + i * width, t, out);
}

void decode_dictionary_indices(const uint8_t* data, size_t size, size_t count,
                               std::vector<uint32_t>* indices, const std::string& context) {
  indices->resize(count);
  if (count == 0) return;
  if (size < 1) OT_FAIL(context, ": dictionary-encoded page lacks its bit-width byte");
  const int width = data[0];
  if (width > 32) OT_FAIL(context, ": dictionary index bit width ", width, " exceeds 32");
  decode_rle_hybrid(data + 1, size - 1, width, count, indices->data(), context,
                    "dictionary indices");
}

size_t decode_delta_binary_packed(const uint8_t* data, size_t size, size_t count,
                                  std::vector<int64_t>* out, const std::string& context) {
  Cursor c{data, size, 0, context};
  const uint64_t block_size = c.varint("block size");
  const uint64_t miniblocks = c.varint("miniblock count");
  const uint64_t total = c.varint("value count");
  const int64_t first = c.zigzag("first value");
  if (block_size == 0 || block_size % 128 != 0 || block_size > (uint64_t{1} << 20) ||
      miniblocks == 0 || block_size % miniblocks != 0 || (block_size / miniblocks) % 32 != 0)
    OT_FAIL(context, ": DELTA_BINARY_PACKED header is invalid (block size ", block_size, ", ",
            miniblocks, " miniblocks)");
  if (total != count)
    OT_FAIL(context, ": DELTA_BINARY_PACKED header holds ", total, " values, expected ", count);
  const size_t per_mini = static_cast<size_t>(block_size / miniblocks);
  const size_t start = out->size();
  out->reserve(start + count);
  if (count == 0) return c.pos;
  uint64_t last = static_cast<uint64_t>(first);
  out->push_back(first);
  size_t produced = 1;
  while (produced < count) {
    const uint64_t min_delta = static_cast<uint64_t>(c.zigzag("block minimum delta"));
    if (miniblocks > size - c.pos) OT_FAIL(context, ": DELTA_BINARY_PACKED bit widths are truncated");
    const uint8_t* widths = data + c.pos;
    c.pos += static_cast<size_t>(miniblocks);
    for (size_t m = 0; m < miniblocks && produced < count; ++m) {
      const int w = widths[m];
      if (w > 64) OT_FAIL(context, ": DELTA_BINARY_PACKED miniblock bit width ", w, " exceeds 64");
      const size_t n = std::min(per_mini, count - produced);
      const size_t need = (n * static_cast<size_t>(w) + 7) / 8;
      if (need > size - c.pos)
        OT_FAIL(context, ": DELTA_BINARY_PACKED miniblock needs ", need, " bytes, ",
                size - c.pos, " remain");
      for (size_t i = 0; i < n; ++i) {
        last += min_delta + read_bits(data + c.pos, i * static_cast<size_t>(w), w);
        out->push_back(static_cast<int64_t>(last));
      }
      produced += n;
      // Miniblocks are padded to full size; tolerate a writer that trimmed the very last one.
      c.pos += std::min(per_mini * static_cast<size_t>(w) / 8, size - c.pos);
    }
  }
  return c.pos;
}

void decode_values(int32_t encoding, const uint8_t* data, size_t size, size_t count,
                   const ValueType& t, DecodedValues* out, const std::string& context) {
  const bool is_int = t.type == PhysicalType::Int32 || t.type == PhysicalType::Int64;
  switch (static_cast<Encoding>(encoding)) {
    case Encoding::Plain:
      decode_plain(data, size, count, t, out, context);
      return;
    case Encoding::Rle:
      if (t.type != PhysicalType::Boolean) break;
      decode_boolean_rle(data, size, count, out, context);
      return;
    case Encoding::DeltaBinaryPacked: {
      if (!is_int) break;
      const size_t from = out->ints.size();
      decode_delta_binary_packed(data, size, count, &out->ints, context);
      narrow_ints(&out->ints, from, t);
      return;
    }
    case Encoding::DeltaLengthByteArray:
      if (t.type != PhysicalType::ByteArray) break;
      decode_delta_length(data, size, count, &out->bytes, context);
      return;
    case Encoding::DeltaByteArray:
      if (t.type != PhysicalType::ByteArray && t.type != PhysicalType::FixedLenByteArray) break;
      decode_delta_byte_array(data, size, count, t, out, context);
      return;
    case Encoding::ByteStreamSplit:
      decode_byte_stream_split(data, size, count, t, out, context);
      return;
    default:
      break;
  }
  OT_FAIL(context, ": encoding ", encoding_name(encoding), " (", encoding, ") is not supported for ",
          physical_type_name(t.type), " values");
}

}  // namespace omnitune::parquet
