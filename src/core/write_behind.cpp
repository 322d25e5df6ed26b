#include "core/write_behind.h"

#include <fcntl.h>
#include <unistd.h>

namespace omnitune {

void WriteBehind::finished(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    ::close(fd);
  }
  if (!previous_.empty()) {  // its writeback started one file ago
    fd = ::open(previous_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
  previous_ = path;
}

}  // namespace omnitune
