// Helpers shared by unit tests: whole-file byte I/O and the shared fixtures beside the clone
// (../shared/fixtures). A missing fixture is a failure, never a skip: CI always has them.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace omnitune::test_util {

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// ../shared/fixtures/<subdir>/<name>, relative to the source tree.
inline std::string fixture(const std::string& subdir, const std::string& name) {
  return std::string(OMNITUNE_SOURCE_DIR) + "/../shared/fixtures/" + subdir + "/" + name;
}

inline ::testing::AssertionResult fixture_present(const std::string& path) {
  if (std::filesystem::is_regular_file(path)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "missing fixture " << path
         << ": the shared fixtures folder (shared/fixtures beside the repository) must be present";
}

}  // namespace omnitune::test_util
