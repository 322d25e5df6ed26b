// An independent reader of TensorBoard event files for the tests: TFRecord framing with both
// masked CRC-32C checks (computed bit by bit here, not with the table code under test) and a
// minimal protobuf decoder for Event { wall_time = 1, step = 2, file_version = 3, summary = 5 }
// and Summary.Value { tag = 1, simple_value = 2 } (field numbers of tensorboard/compat/proto).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace omnitune::tfevents_test {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time.
inline uint32_t crc32c_bitwise(const std::string& b) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char x : b) {
    c ^= x;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

// TFRecord's mask: rotate right by 15 and add a constant.
inline uint32_t mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xA282EAD8u; }

template <typename T>
T load_le(const std::string& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  return v;
}

// The payloads of all records; std::runtime_error naming the record on any framing or CRC fault.
inline std::vector<std::string> read_records(const std::string& bytes) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < bytes.size()) {
    const std::string rec = "record " + std::to_string(out.size()) + " at byte " + std::to_string(i);
    if (bytes.size() - i < 12) throw std::runtime_error(rec + ": truncated header");
    const uint64_t n = load_le<uint64_t>(bytes, i);
    if (load_le<uint32_t>(bytes, i + 8) != mask(crc32c_bitwise(bytes.substr(i, 8))))
      throw std::runtime_error(rec + ": length CRC mismatch");
    if (bytes.size() - i - 12 < n + 4) throw std::runtime_error(rec + ": truncated payload");
    std::string payload = bytes.substr(i + 12, n);
    if (load_le<uint32_t>(bytes, i + 12 + n) != mask(crc32c_bitwise(payload)))
      throw std::runtime_error(rec + ": data CRC mismatch");
    out.push_back(std::move(payload));
    i += 12 + n + 4;
  }
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct PbField {
  int number = 0;
  int wire = 0;
  uint64_t varint = 0;  // wire type 0
  std::string bytes;    // wire types 1 (8 bytes), 2 (length-delimited), 5 (4 bytes)
};

inline uint64_t read_varint(const std::string& b, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (i >= b.size()) throw std::runtime_error("protobuf: truncated varint");
    const auto x = static_cast<unsigned char>(b[i++]);
    v |= uint64_t(x & 0x7f) << shift;
    if (x < 0x80) return v;
  }
  throw std::runtime_error("protobuf: varint longer than 10 bytes");
}

inline std::vector<PbField> pb_fields(const std::string& b) {
  std::vector<PbField> out;
  size_t i = 0;
  while (i < b.size()) {
    const uint64_t key = read_varint(b, i);
    PbField f;
    f.number = static_cast<int>(key >> 3);
    f.wire = static_cast<int>(key & 7);
    size_t n = 0;
    switch (f.wire) {
      case 0: f.varint = read_varint(b, i); break;
      case 1: n = 8; break;
      case 5: n = 4; break;
      case 2: n = static_cast<size_t>(read_varint(b, i)); break;
      default: throw std::runtime_error("protobuf: unexpected wire type " + std::to_string(f.wire));
    }
    if (f.wire != 0) {
      if (b.size() - i < n) throw std::runtime_error("protobuf: truncated field " + std::to_string(f.number));
      f.bytes = b.substr(i, n);
      i += n;
    }
    out.push_back(std::move(f));
  }
  return out;
}

struct Event {
  double wall_time = 0;
  int64_t step = 0;  // proto3 default when absent
  std::string file_version;
  std::vector<std::pair<std::string, float>> scalars;  // summary.value[] (tag, simple_value)
};

// Decodes one Event; std::runtime_error on a field of the wrong wire type.
inline Event decode_event(const std::string& payload) {
  auto need = [](const PbField& f, int wire, const char* what) {
    if (f.wire != wire) throw std::runtime_error(std::string("protobuf: ") + what + " has wire type " + std::to_string(f.wire));
  };
  Event e;
  for (const auto& f : pb_fields(payload)) {
    if (f.number == 1) {
      need(f, 1, "Event.wall_time");
      e.wall_time = load_le<double>(f.bytes, 0);
    } else if (f.number == 2) {
      need(f, 0, "Event.step");
      e.step = static_cast<int64_t>(f.varint);
    } else if (f.number == 3) {
      need(f, 2, "Event.file_version");
      e.file_version = f.bytes;
    } else if (f.number == 5) {
      need(f, 2, "Event.summary");
      for (const auto& v : pb_fields(f.bytes)) {
        if (v.number != 1) continue;
        need(v, 2, "Summary.value");
        std::pair<std::string, float> tv{"", 0.0f};
        for (const auto& g : pb_fields(v.bytes)) {
          if (g.number == 1) {
            need(g, 2, "Value.tag");
            tv.first = g.bytes;
          } else if (g.number == 2) {
            need(g, 5, "Value.simple_value");
            tv.second = load_le<float>(g.bytes, 0);
          }
        }
        e.scalars.push_back(tv);
      }
    }
  }
  return e;
}

inline std::vector<Event> read_events(const std::string& path) {
  std::vector<Event> out;
  for (const auto& p : read_records(read_file(path))) out.push_back(decode_event(p));
  return out;
}

}  // namespace omnitune::tfevents_test
