// POSIX implementation of InputFile (see input_file.h): open + fstat once, then pread loops that
// retry interrupted and partial reads and report a short read as a truncated file.
#include "parquet/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace omnitune::parquet {

InputFile::InputFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) OT_FAIL("cannot open parquet file ", path, ": ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    OT_FAIL("cannot stat parquet file ", path, ": ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    OT_FAIL("parquet file ", path, " is not a regular file (a directory or device?)");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<uint8_t> InputFile::read(uint64_t offset, size_t n, const std::string& what) const {
  if (offset > size_ || n > size_ - offset)
    OT_FAIL(path_, ": ", what, " (bytes ", offset, " to ", offset + n,
            ") lies outside the file of ", size_, " bytes; the file is truncated or corrupt");
  std::vector<uint8_t> buf(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, buf.data() + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      OT_FAIL(path_, ": cannot read ", what, ": ", std::strerror(errno));
    }
    if (got == 0)
      OT_FAIL(path_, ": ", what, " ends early at byte ", offset + done,
              "; the file shrank while being read");
    done += static_cast<size_t>(got);
  }
  return buf;
}

}  // namespace omnitune::parquet
