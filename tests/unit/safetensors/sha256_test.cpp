// SHA-256 tests: the FIPS 180-4 / NIST example vectors, padding edge lengths checked against
// Python's hashlib, streaming in odd-sized pieces, and the file helper.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/sha256.h"

namespace omnitune {
namespace {

std::string pattern(size_t n) {  // bytes i % 251, the message the hashlib references used
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmn"
                       "opqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaryLengthsMatchHashlib) {
  // Lengths around the 56-byte point where the length field no longer fits in the last block.
  const std::pair<size_t, const char*> cases[] = {
      {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
      {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
      {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
      {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
      {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
      {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"}};
  for (const auto& [n, hex] : cases) EXPECT_EQ(sha256_hex(pattern(n)), hex) << n << " bytes";
}

TEST(Sha256, StreamingInOddPiecesEqualsOneShot) {
  for (size_t len : {0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4099}) {
    const std::string msg = pattern(len);
    const std::string expected = sha256_hex(msg);
    for (size_t piece : {1, 3, 7, 13, 63, 64, 65, 200}) {
      Sha256 h;
      for (size_t pos = 0; pos < len; pos += piece) h.update(msg.data() + pos, std::min(piece, len - pos));
      EXPECT_EQ(h.hex_digest(), expected) << "length " << len << ", pieces of " << piece;
    }
  }
}

TEST(Sha256, DigestIsRawBytesOfHex) {
  Sha256 h;
  h.update("abc");
  const auto d = h.digest();
  EXPECT_EQ(to_hex(d.data(), d.size()), sha256_hex("abc"));
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
}

TEST(Sha256, UseAfterDigestIsAnInternalError) {
  Sha256 h;
  h.update("abc");
  (void)h.digest();
  EXPECT_THROW(h.update("more"), InternalError);
  EXPECT_THROW((void)h.digest(), InternalError);
}

TEST(Sha256, FileHelperStreamsLargeFiles) {
  namespace fs = std::filesystem;
  const std::string path = (fs::temp_directory_path() / ("omnitune-sha-" + std::to_string(::getpid()))).string();
  {
    std::ofstream out(path, std::ios::binary);
    out << pattern(3 * 1024 * 1024 + 17);  // spans several 1 MiB reads and ends mid-block
  }
  EXPECT_EQ(sha256_file(path), "fe2aaf82bfa2ffec207a0c6fa7ce7d4af268d67e2672fdaec675f3f9b65d0854");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "abc";
  EXPECT_EQ(sha256_file(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  fs::remove(path);
  try {
    sha256_file(path);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": cannot open to compute its SHA-256: No such file"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace omnitune
