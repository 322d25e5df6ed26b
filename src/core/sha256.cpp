// SHA-256 through OpenSSL's EVP interface (libcrypto picks SHA-NI or AVX2 code at run time).
// Checked against the FIPS 180-4 test vectors in tests/unit/safetensors/sha256_test.cpp.
#include "core/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace omnitune {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  OT_CHECK(ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1,
           "OpenSSL could not start a SHA-256 digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, size_t n) {
  OT_CHECK(!finished_, "Sha256::update after digest()");
  OT_CHECK(n == 0 || EVP_DigestUpdate(ctx_, data, n) == 1, "OpenSSL SHA-256 update failed");
}

std::array<uint8_t, 32> Sha256::digest() {
  OT_CHECK(!finished_, "Sha256::digest called twice");
  finished_ = true;
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  OT_CHECK(EVP_DigestFinal_ex(ctx_, out.data(), &len) == 1 && len == out.size(), "OpenSSL SHA-256 final failed");
  return out;
}

std::string Sha256::hex_digest() {
  const auto d = digest();
  return to_hex(d.data(), d.size());
}

std::string to_hex(const uint8_t* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[data[i] >> 4];
    s[2 * i + 1] = kDigits[data[i] & 15];
  }
  return s;
}

std::string sha256_hex(const void* data, size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.hex_digest();
}

std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }

std::string sha256_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    OT_FAIL(path, ": cannot open to compute its SHA-256: ", std::strerror(err),
            "; check the path and its permissions");
  }
  Sha256 h;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      OT_FAIL(path, ": read failed while computing its SHA-256: ", std::strerror(err));
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return h.hex_digest();
}

}  // namespace omnitune
