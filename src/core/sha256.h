// SHA-256 (FIPS 180-4) for checksums of checkpoints and data shards. A small self-contained
// implementation, so core needs no crypto library; ~200-400 MB/s, fine for integrity checks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace omnitune {

// Incremental hasher: update() any number of times, then digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Finishes the hash; afterwards update() and digest() are invariant violations (InternalError).
  std::array<uint8_t, 32> digest();
  std::string hex_digest();  // digest() as 64 lowercase hex characters

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

// Lowercase hex of a byte string (used for digests).
std::string to_hex(const uint8_t* data, size_t n);

std::string sha256_hex(const void* data, size_t n);
std::string sha256_hex(const std::string& s);
// Streams the file through the hasher; throws Error naming the path if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace omnitune
