// Text helpers for messages.
#include "core/text_util.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace omnitune {

size_t edit_distance(const std::string& a_full, const std::string& b_full) {
  const std::string a = a_full.substr(0, 256), b = b_full.substr(0, 256);
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string hex_prefix(const uint8_t* data, size_t n, size_t max) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < n && i < max; ++i) {
    std::snprintf(buf, sizeof(buf), i ? " %02x" : "%02x", data[i]);
    s += buf;
  }
  return s;
}

}  // namespace omnitune
