// Codec implementations over Debian's libsnappy, libzstd and zlib (see compression.h). Where the
// codec records its own output size (Snappy, ZSTD frames) it is checked against the page header
// before allocating, and GZIP output grows with the data, so a corrupt header cannot make the
// reader allocate a huge buffer the data cannot fill.
#include "parquet/compression.h"

#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/error.h"
#include "parquet/metadata.h"

namespace omnitune::parquet {

namespace {

std::vector<uint8_t> gunzip(const uint8_t* src, size_t src_size, size_t out_size,
                            const std::string& context) {
  // GZIP records no trustworthy size up front, so the buffer grows with the actual output (up to
  // the header's size plus one spare byte that exposes a longer stream) instead of trusting a
  // possibly corrupt page header with a multi-GB allocation.
  const size_t limit = out_size + 1;
  std::vector<uint8_t> out(std::min(limit, std::max<size_t>(size_t{1} << 16, src_size * 4)));
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  // 15 + 32: accept both gzip and zlib headers (parquet-mr and pyarrow write gzip members).
  if (inflateInit2(&zs, 15 + 32) != Z_OK) OT_FAIL(context, ": cannot initialise zlib");
  size_t in_pos = 0, out_pos = 0;
  int rc = Z_OK;
  while (true) {
    if (out_pos == out.size() && out.size() < limit)
      out.resize(std::min(limit, out.size() * 2));
    // zlib counts in uInt; feed at most UINT_MAX at a time.
    zs.next_in = const_cast<Bytef*>(src + in_pos);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(src_size - in_pos, UINT_MAX));
    zs.next_out = out.data() + out_pos;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - out_pos, UINT_MAX));
    const uInt in_before = zs.avail_in, out_before = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += in_before - zs.avail_in;
    out_pos += out_before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Some writers concatenate gzip members; continue with the next one if bytes remain.
      if (in_pos < src_size && inflateReset(&zs) == Z_OK) continue;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    const bool can_grow = out_pos == out.size() && out.size() < limit;
    if (in_before == zs.avail_in && out_before == zs.avail_out && !can_grow) {
      rc = Z_BUF_ERROR;  // no progress: input ended or output full before the stream end
      break;
    }
  }
  const std::string zlib_msg = zs.msg ? zs.msg : "no message";
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    OT_FAIL(context, ": GZIP data is corrupt or truncated (zlib error ", rc, ", ", zlib_msg, ")");
  if (out_pos != out_size)
    OT_FAIL(context, ": GZIP data decompresses to ", out_pos > out_size ? "more than " : "",
            out_pos, " bytes, the page header says ", out_size);
  out.resize(out_size);
  return out;
}

}  // namespace

bool codec_supported(int32_t codec) {
  switch (static_cast<Codec>(codec)) {
    case Codec::Uncompressed:
    case Codec::Snappy:
    case Codec::Gzip:
    case Codec::Zstd:
      return true;
    default:
      return false;
  }
}

void require_codec_supported(int32_t codec, const std::string& context) {
  if (!codec_supported(codec))
    OT_FAIL(context, ": compression codec ", codec_name(codec), " (", codec,
            ") is not supported; supported codecs are UNCOMPRESSED, SNAPPY, GZIP and ZSTD. "
            "Re-write the file with one of them, e.g. pyarrow.parquet.write_table(table, path, "
            "compression='snappy')");
}

std::vector<uint8_t> decompress(int32_t codec, const uint8_t* src, size_t src_size,
                                size_t uncompressed_size, const std::string& context) {
  require_codec_supported(codec, context);
  switch (static_cast<Codec>(codec)) {
    case Codec::Uncompressed:
      if (src_size != uncompressed_size)
        OT_FAIL(context, ": uncompressed page has ", src_size, " bytes, its header says ",
                uncompressed_size);
      return std::vector<uint8_t>(src, src + src_size);
    case Codec::Snappy: {
      size_t n = 0;
      const char* in = reinterpret_cast<const char*>(src);
      if (!snappy::GetUncompressedLength(in, src_size, &n))
        OT_FAIL(context, ": Snappy data is corrupt (no valid length header)");
      if (n != uncompressed_size)
        OT_FAIL(context, ": Snappy data decompresses to ", n, " bytes, the page header says ",
                uncompressed_size);
      std::vector<uint8_t> out(n);
      if (!snappy::RawUncompress(in, src_size, reinterpret_cast<char*>(out.data())))
        OT_FAIL(context, ": Snappy data is corrupt or truncated");
      return out;
    }
    case Codec::Gzip:
      return gunzip(src, src_size, uncompressed_size, context);
    case Codec::Zstd: {
      const unsigned long long declared = ZSTD_getFrameContentSize(src, src_size);
      if (declared == ZSTD_CONTENTSIZE_ERROR)
        OT_FAIL(context, ": ZSTD data is corrupt (not a ZSTD frame)");
      // Single-frame pages record their size; compare before allocating. Multi-frame or
      // unknown-size streams are checked after decompression instead.
      if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > uncompressed_size)
        OT_FAIL(context, ": ZSTD frame holds ", declared, " bytes, the page header says ",
                uncompressed_size);
      std::vector<uint8_t> out(std::max<size_t>(uncompressed_size, 1));
      const size_t rc = ZSTD_decompress(out.data(), uncompressed_size, src, src_size);
      if (ZSTD_isError(rc))
        OT_FAIL(context, ": ZSTD data is corrupt or truncated (", ZSTD_getErrorName(rc), ")");
      if (rc != uncompressed_size)
        OT_FAIL(context, ": ZSTD data decompresses to ", rc, " bytes, the page header says ",
                uncompressed_size);
      out.resize(uncompressed_size);
      return out;
    }
    default:
      break;
  }
  OT_FAIL(context, ": compression codec ", codec_name(codec), " is not supported");
}

}  // namespace omnitune::parquet
