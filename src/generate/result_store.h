// Where a batch generation keeps its answers: one append-only JSONL part file per rank in
// <output>.parts/ (a batch's lines are appended and flushed together once it is done), a
// settings file that stops a rerun from mixing answers of different settings, and the merged
// output, written by rank 0 in input order through a temporary file and a rename. A rerun reads
// every part file (whatever number of ranks wrote them) and skips the ids they hold.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace omnitune {

class ResultStore {
 public:
  ResultStore(std::string output, int rank);

  // Rank 0, before the others touch the directory: creates <output>.parts/ and records
  // `settings` (a JSON text) there, or checks it equals the recorded one (an Error says what
  // differs and how to start over).
  void prepare(const std::string& settings) const;
  // This rank's part file loses a last line cut off by a kill (no final newline).
  void repair_own() const;
  // Every complete line of every part file, by id (a later line for the same id wins).
  std::map<std::string, std::string> load_all() const;
  // Appends lines (each one JSON object with an "id", without newline) and flushes to disk.
  void append(const std::vector<std::string>& lines) const;
  // Writes `lines` as the output file atomically (temp file + fsync + rename).
  void write_merged(const std::vector<std::string>& lines) const;
  // Writes any text file atomically (the evaluation JSON).
  static void write_atomic(const std::string& path, const std::string& text);

  const std::string& output() const { return output_; }
  std::string parts_dir() const { return output_ + ".parts"; }
  std::string own_part() const;

 private:
  std::string output_;
  int rank_;
};

}  // namespace omnitune
