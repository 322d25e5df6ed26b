#include "train/tfevents.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace omnitune {
namespace {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void key(std::string& out, int field, int wire) { varint(out, (uint64_t(field) << 3) | uint64_t(wire)); }

void bytes_field(std::string& out, int field, const std::string& b) {
  key(out, field, 2);
  varint(out, b.size());
  out += b;
}

template <typename T>
void fixed(std::string& out, int field, int wire, T v) {
  key(out, field, wire);
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out.append(buf, sizeof(T));
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  static uint32_t table[256];
  static const bool init = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      table[i] = c;
    }
    return true;
  }();
  (void)init;
  uint32_t c = 0xFFFFFFFFu;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

TfEventsWriter::TfEventsWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(unix_seconds())) + "." + host;
  out_.open(path_, std::ios::binary | std::ios::app);
  OT_REQUIRE(out_, "cannot write TensorBoard events to ", path_);
  std::string ev;
  fixed(ev, 1, 1, unix_seconds());
  bytes_field(ev, 3, "brain.Event:2");
  record(ev);
  flush();
}

void TfEventsWriter::scalar(const std::string& tag, double value, int64_t step) {
  std::string val, summary, ev;
  bytes_field(val, 1, tag);
  fixed(val, 2, 5, static_cast<float>(value));
  bytes_field(summary, 1, val);
  fixed(ev, 1, 1, unix_seconds());
  key(ev, 2, 0);
  varint(ev, static_cast<uint64_t>(step));
  bytes_field(ev, 5, summary);
  record(ev);
}

void TfEventsWriter::record(const std::string& payload) {
  const uint64_t len = payload.size();
  char head[12];
  std::memcpy(head, &len, 8);
  const uint32_t lc = crc32c_masked(crc32c(head, 8));
  std::memcpy(head + 8, &lc, 4);
  out_.write(head, 12);
  out_.write(payload.data(), static_cast<std::streamsize>(payload.size()));
  const uint32_t dc = crc32c_masked(crc32c(payload.data(), payload.size()));
  out_.write(reinterpret_cast<const char*>(&dc), 4);
}

}  // namespace omnitune
