// Damaged files: empty, not Parquet, wrong magic, truncated, bad footer length, and single-byte
// corruption across the footer and the pages of the real MedPix sample. Each must end in an
// omnitune::Error that names the file (or, for harmless bytes, read fine) and never in a crash,
// another exception type or an out-of-bounds read (run under AddressSanitizer to check the last).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "parquet/parquet_file.h"
#include "../test_util.h"

namespace omnitune::parquet {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

std::string fixture_path() {
  return omnitune::test_util::fixture("medpix", "sample.parquet");
}

Bytes read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing test fixture " + path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A scratch directory removed with the test.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("omnitune_parquet_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const Bytes& bytes) const {
    const std::string p = (dir_ / name).string();
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

// Opens the file and reads the given columns (all when empty) of every row group.
// Returns "" on success or the Error message; any other exception fails the test.
std::string read_outcome(const std::string& path, const std::vector<std::string>& only = {}) {
  try {
    const ParquetFile f = ParquetFile::open(path);
    for (int g = 0; g < f.num_row_groups(); ++g) {
      for (const ColumnInfo& c : f.columns()) {
        if (!only.empty() && std::find(only.begin(), only.end(), c.path) == only.end()) continue;
        const ColumnData d = f.read_column(g, c.path);
        if (static_cast<int64_t>(d.size()) != f.row_group_num_rows(g))
          ADD_FAILURE() << path << ": column " << c.path << " has " << d.size() << " rows";
      }
    }
    return "";
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find(path) == std::string::npos)
      ADD_FAILURE() << "error does not name the file " << path << ": " << msg;
    return msg.empty() ? "<empty message>" : msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": exception other than omnitune::Error: " << e.what();
    return "<other exception>";
  }
}

void expect_error(const std::string& path, const std::string& needle) {
  const std::string msg = read_outcome(path);
  EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
}

uint32_t footer_length(const Bytes& b) {
  const size_t p = b.size() - 8;
  return static_cast<uint32_t>(b[p]) | static_cast<uint32_t>(b[p + 1]) << 8 |
         static_cast<uint32_t>(b[p + 2]) << 16 | static_cast<uint32_t>(b[p + 3]) << 24;
}

TEST(CorruptParquet, EmptyMissingDirectoryAndNonParquetFiles) {
  ScratchDir dir;
  expect_error(dir.write("empty.parquet", {}), "is not a parquet file: it has 0 bytes");
  expect_error(dir.path("absent.parquet"), "cannot open parquet file");
  expect_error(dir.path(""), "is not a regular file");
  const std::string csv = "case_id,question,answer\nMPX1009,What?,Nothing.\n";
  expect_error(dir.write("table.csv", Bytes(csv.begin(), csv.end())),
               "does not end with the magic bytes PAR1 (found 'ng.\\x0a')");
  expect_error(dir.write("tiny.parquet", {'P', 'A', 'R', '1', 0, 0, 0, 0, 'P', 'A', 'R', '1'}),
               "corrupt file metadata: truncated Thrift data");
}

TEST(CorruptParquet, WrongMagicAtEitherEndAndEncryptedFooters) {
  ScratchDir dir;
  const Bytes good = read_all(fixture_path());
  Bytes head = good;
  head[3] = '2';
  expect_error(dir.write("head.parquet", head), "starts with 'PAR2' instead of PAR1");
  Bytes tail = good;
  tail.back() = 'X';
  expect_error(dir.write("tail.parquet", tail), "does not end with the magic bytes PAR1 (found 'PARX')");
  Bytes encrypted = good;
  encrypted.back() = 'E';
  expect_error(dir.write("enc.parquet", encrypted), "encrypted parquet file");
}

TEST(CorruptParquet, TruncatedFilesAreErrors) {
  ScratchDir dir;
  const Bytes good = read_all(fixture_path());
  const size_t n = good.size();
  for (size_t keep : {size_t{1}, size_t{4}, size_t{11}, size_t{12}, size_t{100}, n / 2, n - 9,
                      n - 8, n - 5, n - 4, n - 1}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " of " + std::to_string(n) + " bytes");
    const std::string p = dir.write("cut.parquet", Bytes(good.begin(), good.begin() + keep));
    const std::string msg = read_outcome(p);
    EXPECT_FALSE(msg.empty());
    if (keep >= 12) {
      EXPECT_NE(msg.find("does not end with the magic bytes PAR1"), std::string::npos) << msg;
    }
  }
  // The middle cut out but the footer kept (a botched copy): chunks point past the data.
  const size_t footer_start = n - 8 - footer_length(good);
  Bytes spliced(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(footer_start / 2));
  spliced.insert(spliced.end(), good.begin() + static_cast<std::ptrdiff_t>(footer_start), good.end());
  expect_error(dir.write("spliced.parquet", spliced), "lies outside the data area of the file");
}

TEST(CorruptParquet, BadFooterLengthsAreErrors) {
  ScratchDir dir;
  const Bytes good = read_all(fixture_path());
  const size_t at = good.size() - 8;
  Bytes huge = good;
  huge[at] = huge[at + 1] = huge[at + 2] = huge[at + 3] = 0xFF;
  expect_error(dir.write("huge.parquet", huge),
               "file metadata length 4294967295 is larger than the file allows");
  Bytes zero = good;
  zero[at] = zero[at + 1] = zero[at + 2] = zero[at + 3] = 0;
  expect_error(dir.write("zero.parquet", zero), "corrupt file metadata: truncated Thrift data");
  // Every single-bit change of the length moves the footer start: never a valid file.
  for (int bit = 0; bit < 32; ++bit) {
    Bytes b = good;
    b[at + static_cast<size_t>(bit / 8)] ^= static_cast<uint8_t>(1u << (bit % 8));
    const std::string msg = read_outcome(dir.write("len.parquet", b));
    EXPECT_FALSE(msg.empty()) << "bit " << bit << " of the footer length flipped, file still read";
  }
}

// Flips one byte at a time in place, reads, and restores it.
class ByteFlipper {
 public:
  ByteFlipper(const std::string& path, const Bytes& original) : path_(path), original_(original) {
    fd_ = ::open(path.c_str(), O_WRONLY);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path);
  }
  ~ByteFlipper() { ::close(fd_); }
  // Returns the read outcome with byte `offset` xor-ed with `mask`.
  std::string outcome(size_t offset, uint8_t mask, const std::vector<std::string>& only) {
    put(offset, static_cast<uint8_t>(original_[offset] ^ mask));
    const std::string msg = read_outcome(path_, only);
    put(offset, original_[offset]);
    return msg;
  }

 private:
  void put(size_t offset, uint8_t value) {
    if (::pwrite(fd_, &value, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pwrite failed");
  }
  std::string path_;
  const Bytes& original_;
  int fd_ = -1;
};

TEST(CorruptParquet, EveryFooterByteFlippedIsAnErrorOrStillReads) {
  ScratchDir dir;
  const Bytes good = read_all(fixture_path());
  const std::string p = dir.write("flip.parquet", good);
  const size_t footer_start = good.size() - 8 - footer_length(good);
  // Schema and row group metadata come first; the key-value strings after them are free text,
  // so only every 16th of those bytes is tried.
  const char kv_key[] = "pandas";
  const auto kv = std::search(good.begin() + static_cast<std::ptrdiff_t>(footer_start), good.end(),
                              kv_key, kv_key + 6);
  const size_t kv_start = static_cast<size_t>(kv - good.begin());
  ByteFlipper flipper(p, good);
  int errors = 0, reads = 0;
  for (size_t off = footer_start; off < good.size() - 8; off += off < kv_start ? 1 : 16) {
    // All bits of every byte, and the low bit (off-by-one lengths, ids and enums) of every 4th.
    for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x01}}) {
      if (mask == 0x01 && off % 4 != 0) continue;
      SCOPED_TRACE("footer byte " + std::to_string(off - footer_start) + " xor " + std::to_string(mask));
      const std::string msg = flipper.outcome(off, mask, {});
      ++(msg.empty() ? reads : errors);
      if (::testing::Test::HasFailure()) return;  // one report is enough
    }
  }
  EXPECT_GT(errors, 100);
  std::printf("footer flips: %d errors, %d files still read\n", errors, reads);
}

TEST(CorruptParquet, PageBytesFlippedAreAnErrorOrStillRead) {
  ScratchDir dir;
  const Bytes good = read_all(fixture_path());
  const std::string p = dir.write("flip.parquet", good);
  const size_t footer_start = good.size() - 8 - footer_length(good);
  // Column chunk byte ranges of the fixture (from DuckDB's parquet_metadata): every byte of the
  // text chunks and of the image's page headers and index page, every 997th of its PNG payload.
  struct Chunk {
    const char* column;
    size_t begin, end;
  };
  const Chunk chunks[] = {{"case_id", 4, 100},        {"question", 175, 2088},
                          {"answer", 2331, 8960},     {"image", 9262, 660778},
                          {"image_id", 660840, 661022}, {"mode", 661127, 661231}};
  ByteFlipper flipper(p, good);
  int errors = 0, reads = 0;
  for (const Chunk& c : chunks) {
    ASSERT_LT(c.end, footer_start);
    for (size_t off = c.begin; off < c.end;) {
      SCOPED_TRACE(std::string(c.column) + " chunk byte " + std::to_string(off));
      const std::string msg = flipper.outcome(off, 0xFF, {c.column});
      ++(msg.empty() ? reads : errors);
      if (::testing::Test::HasFailure()) return;
      const bool payload = std::string(c.column) == "image" && off > c.begin + 64 && off < 660700;
      off += payload ? 997 : 1;
    }
  }
  EXPECT_GT(errors, 1000);
  std::printf("page flips: %d errors, %d files still read\n", errors, reads);
}

}  // namespace
}  // namespace omnitune::parquet
