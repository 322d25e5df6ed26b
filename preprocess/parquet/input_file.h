// Random-access reads of byte ranges from one file with pread, so a reader touches only the
// footer and the column chunks it is asked for (MedPix parquet files embed hundreds of MB of
// images). pread keeps no file position, so concurrent reads from several threads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace omnitune::parquet {

class InputFile {
 public:
  // Opens `path` for reading; Error if it is missing, unreadable or not a regular file.
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  // Reads exactly n bytes at `offset`; Error naming `what` if the range is outside the file or
  // the read comes back short.
  std::vector<uint8_t> read(uint64_t offset, size_t n, const std::string& what) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace omnitune::parquet
