#include "core/write_behind.h"

#include <fcntl.h>
#include <unistd.h>

namespace omnitune {
namespace {

void drop_cached_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

}  // namespace

WriteBehind::~WriteBehind() {
  if (!previous_.empty()) drop_cached_pages(previous_);
}

void WriteBehind::finished(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    ::close(fd);
  }
  if (!previous_.empty()) drop_cached_pages(previous_);
  previous_ = path;
}

}  // namespace omnitune
