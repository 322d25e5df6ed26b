// Write-behind for large output files written once and not read again by this process (shards):
// each finished file's writeback to disk starts at once (sync_file_range, asynchronous), and the
// file finished before it, clean by then, is dropped from the page cache (posix_fadvise
// DONTNEED). Dirty memory stays bounded by about two files instead of growing with the dataset,
// a run does not push other data out of the node's cache, and new writes reuse the freed pages
// (on a VM, fresh pages cost more than the copy: bench/README.md, preprocessing). Advisory only:
// failures (a file system without these calls) are ignored.
#pragma once

#include <string>

namespace omnitune {

class WriteBehind {
 public:
  WriteBehind() = default;
  ~WriteBehind();  // drops the last file's clean pages
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // `path` is complete (closed, renamed into place, checksummed).
  void finished(const std::string& path);

 private:
  std::string previous_;
};

}  // namespace omnitune
