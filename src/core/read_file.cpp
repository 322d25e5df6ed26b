#include "core/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace omnitune {

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  OT_REQUIRE(fd >= 0, "cannot read ", path, " (", std::strerror(errno), ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  OT_REQUIRE(::fstat(fd, &st) == 0, "cannot read ", path, " (", std::strerror(errno), ")");
  OT_REQUIRE(!S_ISDIR(st.st_mode), "cannot read ", path, " (it is a directory)");
  auto read_some = [&](char* dst, size_t n) {
    for (;;) {
      const ssize_t r = ::read(fd, dst, n);
      if (r < 0 && errno == EINTR) continue;
      OT_REQUIRE(r >= 0, "cannot read ", path, " (", std::strerror(errno), ")");
      return static_cast<size_t>(r);
    }
  };
  // Regular files: st_size bytes into a buffer of that size. A file that grows meanwhile, and
  // pipes (no size), are read on to their end.
  std::string out(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0, '\0');
  size_t got = 0;
  while (got < out.size()) {
    const size_t n = read_some(&out[got], out.size() - got);
    if (n == 0) break;
    got += n;
  }
  if (got == out.size()) {
    char more[65536];
    while (const size_t n = read_some(more, sizeof(more))) {
      out.append(more, n);
      got += n;
    }
  }
  out.resize(got);
  return out;
}

}  // namespace omnitune
