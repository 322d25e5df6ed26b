// Write-behind for large output files written once and not read again by this process (shards):
// a finished file's writeback to disk starts at once (sync_file_range, asynchronous) and the file
// finished before it, clean by then, leaves the page cache (posix_fadvise DONTNEED). Dirty and
// cached output stays at about two files instead of growing with the dataset, a long run does not
// push the node's other data out of its cache, and new writes reuse the freed pages (on a VM,
// fresh pages cost more than the copy: bench/README.md, preprocessing). Starting writeback costs
// the caller the I/O submission, which only pays off when more output follows: leave the last
// file of a run to the kernel. Advisory only: failures (a file system without these calls) are
// ignored.
#pragma once

#include <string>

namespace omnitune {

class WriteBehind {
 public:
  // `path` is complete (closed, renamed into place, checksummed) and more output will follow.
  void finished(const std::string& path);

 private:
  std::string previous_;
};

}  // namespace omnitune
