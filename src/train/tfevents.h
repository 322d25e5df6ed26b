// TensorBoard event files for scalars, written without TensorFlow: TFRecord framing (length,
// masked CRC-32C of the length, payload, masked CRC-32C of the payload) around hand-encoded
// `Event` protobufs (wall_time = 1, step = 2, file_version = 3, summary = 5 with
// value { tag = 1, simple_value = 2 }). The first record carries file_version "brain.Event:2".
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace omnitune {

uint32_t crc32c(const void* data, size_t n);                   // Castagnoli, reflected
inline uint32_t crc32c_masked(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

class TfEventsWriter {
 public:
  // Creates <dir>/events.out.tfevents.<unix seconds>.<host>.
  explicit TfEventsWriter(const std::string& dir);
  void scalar(const std::string& tag, double value, int64_t step);
  void flush() { out_.flush(); }
  const std::string& path() const { return path_; }

 private:
  void record(const std::string& payload);
  std::string path_;
  std::ofstream out_;
};

}  // namespace omnitune
