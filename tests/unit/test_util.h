// Helpers shared by unit tests: whole-file byte I/O and the fixtures kept in the repository
// (tests/fixtures, provenance in its README). A missing fixture is a failure, never a skip.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"

namespace omnitune::test_util {

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// tests/fixtures/<subdir> in the source tree: the one place tests name the fixtures folder.
inline std::string fixture_dir(const std::string& subdir) {
  return std::string(OMNITUNE_SOURCE_DIR) + "/tests/fixtures/" + subdir;
}

// tests/fixtures/<subdir>/<name>.
inline std::string fixture(const std::string& subdir, const std::string& name) { return fixture_dir(subdir) + "/" + name; }

inline ::testing::AssertionResult fixture_present(const std::string& path) {
  if (std::filesystem::is_regular_file(path)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "missing fixture " << path
         << ": tests/fixtures is part of the repository (see its README)";
}

// Runs fn and returns the message of the omnitune::Error it must throw (a test failure if none).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected omnitune::Error, nothing was thrown";
  return "";
}

// A path under the test temp dir, unique to this process, that does not exist (yet).
inline std::string fresh_temp_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

}  // namespace omnitune::test_util
