// Whole-file reads (core/read_file.h) and write-behind of finished outputs (core/write_behind.h).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/read_file.h"
#include "core/write_behind.h"

namespace fs = std::filesystem;
using namespace omnitune;

namespace {

// A scratch folder in the build tree (on disk: the page-cache checks mean nothing on tmpfs),
// removed when the test program ends.
fs::path scratch(const std::string& name) {
  struct Dir {
    fs::path path = fs::path(OMNITUNE_BINARY_DIR) / "tests" / ("file_io_" + std::to_string(getpid()));
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static Dir dir;
  fs::create_directories(dir.path);
  return dir.path / name;
}

std::string error_of(const std::string& path) {
  try {
    read_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Pages of `path` in the page cache (mincore over a read-only mapping).
size_t resident_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  struct stat st {};
  ::fstat(fd, &st);
  const size_t size = static_cast<size_t>(st.st_size), page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  std::vector<unsigned char> in_core((size + page - 1) / page);
  ::mincore(map, size, in_core.data());
  ::munmap(map, size);
  size_t n = 0;
  for (unsigned char c : in_core) n += c & 1;
  return n;
}

}  // namespace

TEST(ReadFile, ReturnsTheExactBytes) {
  const fs::path p = scratch("bytes.bin");
  std::string want;
  for (int i = 0; i < 300000; ++i) want.push_back(static_cast<char>(i * 131 % 256));
  std::ofstream(p, std::ios::binary) << want;
  EXPECT_EQ(read_file(p.string()), want);
  std::ofstream(scratch("empty.bin"), std::ios::binary).flush();
  EXPECT_EQ(read_file(scratch("empty.bin").string()), "");
}

TEST(ReadFile, ReadsAPipeToItsEnd) {
  const fs::path p = scratch("pipe");
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  const std::string want(200000, 'x');
  std::thread writer([&] { std::ofstream(p, std::ios::binary) << want; });
  const std::string got = read_file(p.string());
  writer.join();
  EXPECT_EQ(got, want);
}

TEST(ReadFile, ErrorsNameThePathAndTheReason) {
  const std::string missing = scratch("missing.png").string();
  const std::string m = error_of(missing);
  EXPECT_NE(m.find("cannot read " + missing), std::string::npos) << m;
  EXPECT_NE(m.find("No such file"), std::string::npos) << m;
  const std::string d = error_of(scratch("").string());
  EXPECT_NE(d.find("is a directory"), std::string::npos) << d;
}

TEST(WriteBehind, DropsEachFileWhenTheNextIsFinished) {
  const fs::path a = scratch("shard-a.h5"), b = scratch("shard-b.h5"), c = scratch("shard-c.h5");
  struct statfs sfs {};
  ASSERT_EQ(::statfs(a.parent_path().c_str(), &sfs), 0);
  if (sfs.f_type == 0x01021994) GTEST_SKIP() << "the build tree is on tmpfs: its pages cannot leave memory";
  for (const fs::path& p : {a, b, c}) {
    std::ofstream(p, std::ios::binary) << std::string(4 << 20, 's');
    const int fd = ::open(p.c_str(), O_RDONLY);
    ::fdatasync(fd);  // clean, as a shard is once its writeback has run
    ::close(fd);
    read_file(p.string());  // and cached
    ASSERT_GT(resident_pages(p.string()), 0u);
  }
  WriteBehind wb;
  wb.finished(a.string());
  EXPECT_GT(resident_pages(a.string()), 0u);  // the newest finished file stays cached
  wb.finished(b.string());
  EXPECT_EQ(resident_pages(a.string()), 0u);
  EXPECT_GT(resident_pages(b.string()), 0u);
  wb.finished(c.string());
  EXPECT_EQ(resident_pages(b.string()), 0u);
  EXPECT_GT(resident_pages(c.string()), 0u);
  WriteBehind missing;  // advisory: vanished files are no error
  for (const char* gone : {"gone-1.h5", "gone-2.h5", "gone-3.h5"}) missing.finished(scratch(gone).string());
}
