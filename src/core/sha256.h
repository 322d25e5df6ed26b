// SHA-256 (FIPS 180-4) for checksums of checkpoints and data shards, through OpenSSL's libcrypto
// (its SHA-NI/AVX2 code: ~1-2 GB/s, 4-5x a portable implementation; shards of hundreds of MB and
// checkpoints of many GB are hashed on every write and verified on every read).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace omnitune {

// Incremental hasher: update() any number of times, then digest() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Finishes the hash; afterwards update() and digest() are invariant violations (InternalError).
  std::array<uint8_t, 32> digest();
  std::string hex_digest();  // digest() as 64 lowercase hex characters

 private:
  evp_md_ctx_st* ctx_ = nullptr;
  bool finished_ = false;
};

// Lowercase hex of a byte string (used for digests).
std::string to_hex(const uint8_t* data, size_t n);

std::string sha256_hex(const void* data, size_t n);
std::string sha256_hex(const std::string& s);
// Streams the file through the hasher; throws Error naming the path if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace omnitune
