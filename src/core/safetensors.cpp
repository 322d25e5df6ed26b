// Safetensors reader, sharded index and atomic writer. The reader checks the whole header up
// front, following the rules of the Python/Rust `safetensors` library (contiguous buffer, no
// overlaps, sizes that match shapes), so data() needs no bounds checks afterwards.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text_util.h"

namespace omnitune {

using nlohmann::json;

namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};

// In enum order, so kDTypes[int(dtype)] is the dtype's row.
constexpr DTypeRow kDTypes[] = {
    {DType::BOOL, "BOOL", 1},      {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1}, {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},        {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4},        {DType::U32, "U32", 4},   {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},        {DType::I64, "I64", 8},   {DType::U64, "U64", 8},
};
constexpr size_t kNumDTypes = sizeof(kDTypes) / sizeof(kDTypes[0]);

const DTypeRow& dtype_row(DType dtype) {
  const size_t i = static_cast<size_t>(dtype);
  OT_CHECK(i < kNumDTypes && kDTypes[i].dtype == dtype, "dtype ", i);
  return kDTypes[i];
}

std::string known_dtypes() {
  std::string s;
  for (const DTypeRow& r : kDTypes) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

// Names come from untrusted headers (up to 100 MB): keep messages readable.
std::string quote(const std::string& s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return "'" + s + "'";
  return "'" + s.substr(0, kMax) + "...' (" + std::to_string(s.size()) + " bytes)";
}

std::string short_dump(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  return s;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Levenshtein distance on at most the first 256 bytes of each string (enough to rank names).


// "'a', 'b', 'c'": the three names nearest to `query`, for "no tensor named ..." messages.
std::string close_names(const std::vector<std::string>& names, const std::string& query) {
  if (names.empty()) return "none: it holds no tensors";
  std::vector<std::pair<size_t, const std::string*>> scored;
  for (const std::string& n : names) scored.emplace_back(edit_distance(n, query), &n);
  const size_t k = std::min<size_t>(3, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + k, scored.end(),
                    [](const auto& x, const auto& y) {
                      return x.first != y.first ? x.first < y.first : *x.second < *y.second;
                    });
  std::string s;
  for (size_t i = 0; i < k; ++i) s += (i ? ", " : "") + quote(*scored[i].second);
  return s;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// Parses JSON text and rejects duplicate keys (nlohmann keeps the last one silently, which would
// hide a corrupt header) and nesting deeper than any valid header or index needs.
// `top_noun` names what the top-level keys are ("tensor" in a header) for duplicate messages.
json parse_json_strict(const std::string& where, const char* what, const char* top_noun,
                       const char* begin, const char* end, const char* fix) {
  constexpr int kMaxDepth = 16;
  struct Frame {
    bool is_object;
    std::string parent;  // key under which this container sits ("" at the top)
    std::string last_key;
    std::set<std::string> keys;
  };
  std::vector<Frame> stack;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        if (depth >= kMaxDepth)
          OT_FAIL(where, ": ", what, " nests JSON deeper than ", kMaxDepth, " levels; ", fix);
        std::string parent;
        if (!stack.empty()) parent = stack.back().is_object ? stack.back().last_key : stack.back().parent;
        stack.push_back({event == json::parse_event_t::object_start, parent, "", {}});
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key: {
        Frame& f = stack.back();
        f.last_key = parsed.get<std::string>();
        if (!f.keys.insert(f.last_key).second) {
          if (stack.size() == 1)
            OT_FAIL(where, ": ", top_noun, " ", quote(f.last_key), " appears twice in ", what,
                    " (names must be unique); ", fix);
          OT_FAIL(where, ": the entry ", quote(f.parent), " has key ", quote(f.last_key),
                  " twice in ", what, "; ", fix);
        }
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(begin, end, on_event);
  } catch (const json::exception& e) {
    std::string msg = e.what();
    const size_t cut = msg.find("] ");
    if (cut != std::string::npos) msg = msg.substr(cut + 2);
    for (char& c : msg)  // the parser quotes raw input, which may be binary
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    OT_FAIL(where, ": ", what, " is not valid JSON (", msg, "); ", fix);
  }
}

// The bytes of a whole file, for index JSON.
std::string read_text_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    OT_FAIL(path, ": cannot open: ", std::strerror(err), "; check the path and its permissions");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      OT_FAIL(path, ": read failed: ", std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// Writes all of [p, p+n) to fd; returns 0 or the errno of the failed write.
int write_all(int fd, const uint8_t* p, uint64_t n) {
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
    const ssize_t w = ::write(fd, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<uint64_t>(w);
  }
  return 0;
}

std::string errno_hint(int err) {
  switch (err) {
    case ENOSPC: return "; free disk space or write to another directory";
    case EDQUOT: return "; the disk quota is exhausted: free space or write elsewhere";
    case EACCES:
    case EPERM:
    case EROFS: return "; check that the directory is writable";
    case ENOENT: return "; check that the directory exists";
    default: return "";
  }
}

const json* find_field(const std::string& path, const std::string& name, const json& entry,
                       const char* key) {
  const auto it = entry.find(key);
  if (it == entry.end())
    OT_FAIL(path, ": tensor ", quote(name), " has no \"", key,
            "\" in its header entry; the file is corrupt");
  return &*it;
}

// Validates one header entry against the buffer size; returns its info with a buffer-relative
// offset (the caller adds the data start) and sets [*begin, *end).
TensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                       uint64_t buffer_bytes, uint64_t* begin, uint64_t* end) {
  const std::string t = "tensor " + quote(name);
  if (!entry.is_object())
    OT_FAIL(path, ": ", t, " has a header entry that is a JSON ", entry.type_name(),
            ", not an object with \"dtype\", \"shape\" and \"data_offsets\"; the file is corrupt");
  TensorInfo info;

  const json& dt = *find_field(path, name, entry, "dtype");
  if (!dt.is_string())
    OT_FAIL(path, ": ", t, " has dtype ", short_dump(dt), ", which is not a string; the file is corrupt");
  const auto dtype = dtype_from_name(dt.get<std::string>());
  if (!dtype)
    OT_FAIL(path, ": ", t, " has unknown dtype ", quote(dt.get<std::string>()), " (known: ",
            known_dtypes(), "); the file is corrupt or uses a dtype omnitune does not support");
  info.dtype = *dtype;

  const json& sh = *find_field(path, name, entry, "shape");
  if (!sh.is_array())
    OT_FAIL(path, ": ", t, " has shape ", short_dump(sh),
            ", which is not an array of non-negative integers; the file is corrupt");
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t i = 0; i < sh.size(); ++i) {
    const json& d = sh[i];
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      OT_FAIL(path, ": ", t, " has shape ", short_dump(sh), ": dimension ", i, " is ",
              short_dump(d), ", but dimensions must be non-negative integers; the file is corrupt");
    info.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    overflow = overflow || !checked_mul(numel, d.get<uint64_t>(), &numel);
  }
  const uint64_t elem = dtype_size(info.dtype);
  uint64_t bytes = 0;
  if (overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      !checked_mul(numel, elem, &bytes))
    OT_FAIL(path, ": ", t, " has shape ", short_dump(sh), " whose size in ", dtype_name(info.dtype),
            " overflows 64 bits; the file is corrupt");

  const json& off = *find_field(path, name, entry, "data_offsets");
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    OT_FAIL(path, ": ", t, " has data_offsets ", short_dump(off),
            ", but they must be [begin, end], two non-negative integers; the file is corrupt");
  *begin = off[0].get<uint64_t>();
  *end = off[1].get<uint64_t>();
  const std::string offs = "[" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
  if (*begin > *end)
    OT_FAIL(path, ": ", t, " has data_offsets ", offs, ": begin is after end; the file is corrupt");
  if (*end - *begin != bytes)
    OT_FAIL(path, ": ", t, " has shape ", shape_str(info.shape), " (", numel, " x ",
            dtype_name(info.dtype), " = ", bytes, " bytes) but data_offsets ", offs, " span ",
            *end - *begin, " bytes; the file is truncated or corrupt");
  if (*end > buffer_bytes)
    OT_FAIL(path, ": ", t, " has data_offsets ", offs, " but the data buffer holds only ",
            buffer_bytes, " bytes; the file is truncated or corrupt");
  info.offset = *begin;
  info.nbytes = bytes;
  return info;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& m) {
  if (!m.is_object())
    OT_FAIL(path, ": \"__metadata__\" is a JSON ", m.type_name(),
            " but must be an object of string values; the file is corrupt");
  std::map<std::string, std::string> out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (!it.value().is_string())
      OT_FAIL(path, ": \"__metadata__\" key ", quote(it.key()), " has a ", it.value().type_name(),
              " value (", short_dump(it.value()),
              "), but metadata values must be strings; the file is corrupt or was written by a "
              "non-conforming tool");
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

}  // namespace

size_t dtype_size(DType dtype) { return dtype_row(dtype).size; }

const char* dtype_name(DType dtype) { return dtype_row(dtype).name; }

std::optional<DType> dtype_from_name(const std::string& name) {
  for (const DTypeRow& r : kDTypes)
    if (name == r.name) return r.dtype;
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    OT_FAIL(path, ": cannot open safetensors file: ", std::strerror(err),
            "; check the path and its permissions");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    OT_FAIL(path, ": cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    OT_FAIL(path, S_ISDIR(st.st_mode) ? ": is a directory" : ": is not a regular file",
            ", not a safetensors file; pass the path of a .safetensors file");
  }
  f.size_ = static_cast<uint64_t>(st.st_size);
  if (f.size_ >= 8) {  // shorter files are rejected by parse() without reading them
    void* m = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    if (m == MAP_FAILED) {
      ::close(fd);
      OT_FAIL(path, ": cannot memory-map ", f.size_, " bytes: ", std::strerror(err));
    }
    f.map_ = m;
    f.map_len_ = f.size_;
    f.base_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  f.parse();
  return f;
}

SafetensorsFile SafetensorsFile::from_buffer(std::string name, std::vector<uint8_t> bytes) {
  SafetensorsFile f;
  f.path_ = std::move(name);
  f.owned_ = std::move(bytes);
  f.base_ = f.owned_.data();
  f.size_ = f.owned_.size();
  f.parse();
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      base_(std::exchange(o.base_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      map_(std::exchange(o.map_, nullptr)),
      map_len_(std::exchange(o.map_len_, 0)),
      owned_(std::move(o.owned_)),
      data_start_(o.data_start_),
      names_(std::move(o.names_)),
      tensors_(std::move(o.tensors_)),
      metadata_(std::move(o.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_ = std::exchange(o.map_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
    owned_ = std::move(o.owned_);  // steals the buffer, so base_ stays valid
    data_start_ = o.data_start_;
    names_ = std::move(o.names_);
    tensors_ = std::move(o.tensors_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() noexcept {
  if (map_ != nullptr) ::munmap(map_, map_len_);
  map_ = nullptr;
  map_len_ = 0;
  base_ = nullptr;
}

void SafetensorsFile::parse() {
  const std::string& p = path_;
  if (size_ == 0)
    OT_FAIL(p, ": the file is empty (0 bytes), not a safetensors file; it was probably not "
               "written completely: re-create or re-download it");
  if (size_ < 8)
    OT_FAIL(p, ": the file is only ", size_, " bytes, shorter than the 8-byte header length every "
            "safetensors file starts with; it is truncated or not a safetensors file");
  const uint64_t n = read_le64(base_);
  if (n > kSafetensorsMaxHeaderBytes)
    OT_FAIL(p, ": the header length in the first 8 bytes is ", n, " bytes, over the ",
            kSafetensorsMaxHeaderBytes, "-byte limit of the safetensors format; the file is not a "
            "safetensors file or is corrupt");
  if (n > size_ - 8)
    OT_FAIL(p, ": the header length in the first 8 bytes is ", n, " bytes but only ", size_ - 8,
            " bytes follow (file size ", size_, "); the file is truncated or not a safetensors file");
  data_start_ = 8 + n;
  const uint64_t buffer_bytes = size_ - data_start_;
  const char* text = reinterpret_cast<const char*>(base_ + 8);
  const json header = parse_json_strict(p, "the header", "tensor", text, text + n,
                                        "the file is corrupt or not a safetensors file");
  if (!header.is_object())
    OT_FAIL(p, ": the header is a JSON ", header.type_name(), " but must be an object mapping "
            "tensor names to {\"dtype\", \"shape\", \"data_offsets\"}; the file is corrupt or not "
            "a safetensors file");

  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      metadata_ = parse_metadata(p, it.value());
      continue;
    }
    uint64_t begin = 0, end = 0;
    TensorInfo info = parse_entry(p, it.key(), it.value(), buffer_bytes, &begin, &end);
    info.offset += data_start_;
    const auto ins = tensors_.emplace(it.key(), std::move(info));
    spans.push_back({begin, end, &ins.first->first});
  }

  // The tensors must tile the buffer exactly, as the Python library requires: sorted by offset,
  // each starts where the previous ended and the last ends at the end of the file.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return *a.name < *b.name;
  });
  uint64_t pos = 0;
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin < pos)
      OT_FAIL(p, ": tensors ", quote(*prev->name), " (data_offsets [", prev->begin, ", ", prev->end,
              "]) and ", quote(*s.name), " ([", s.begin, ", ", s.end,
              "]) overlap in the data buffer; the file is corrupt");
    if (s.begin > pos)
      OT_FAIL(p, ": the data buffer has a hole: bytes [", pos, ", ", s.begin, ") ",
              prev ? "between tensor " + quote(*prev->name) + " and tensor " + quote(*s.name)
                   : "before the first tensor " + quote(*s.name),
              " belong to no tensor, but safetensors requires the tensors to cover the buffer "
              "contiguously with no holes; the file is corrupt");
    pos = s.end;
    prev = &s;
  }
  if (pos != buffer_bytes)
    OT_FAIL(p, ": the data buffer has a hole: its last ", buffer_bytes - pos, " bytes (buffer bytes [",
            pos, ", ", buffer_bytes, ")) come after ",
            prev ? "the last tensor " + quote(*prev->name) : std::string("the header, which lists no tensors,"),
            " and belong to no tensor, but safetensors requires the tensors to cover the buffer "
            "contiguously with no holes; the file is corrupt");

  names_.reserve(spans.size());
  for (const Span& s : spans) names_.push_back(*s.name);
}

bool SafetensorsFile::contains(const std::string& name) const { return tensors_.count(name) != 0; }

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end())
    OT_FAIL(path_, ": no tensor named ", quote(name), " (the file holds ", names_.size(),
            " tensors; closest: ", close_names(names_, name), ")");
  return it->second;
}

const uint8_t* SafetensorsFile::data(const std::string& name) const {
  return base_ + info(name).offset;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsIndex

namespace detail {

std::vector<std::pair<std::string, std::string>> parse_weight_map(const std::string& where,
                                                                  const std::string& text) {
  const char* fix = "re-download or regenerate the checkpoint's index";
  const json j =
      parse_json_strict(where, "the index", "key", text.data(), text.data() + text.size(), fix);
  if (!j.is_object())
    OT_FAIL(where, ": the index is a JSON ", j.type_name(), " but must be an object with a "
            "\"weight_map\" of tensor name -> shard file; ", fix);
  const auto wm = j.find("weight_map");
  if (wm == j.end())
    OT_FAIL(where, ": the index has no \"weight_map\" (tensor name -> shard file); ", fix);
  if (!wm->is_object())
    OT_FAIL(where, ": \"weight_map\" is a JSON ", wm->type_name(),
            " but must be an object of tensor name -> shard file name; ", fix);
  if (wm->empty()) OT_FAIL(where, ": \"weight_map\" is empty: the index lists no tensors; ", fix);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      OT_FAIL(where, ": weight_map entry ", quote(it.key()), " is a JSON ", it.value().type_name(),
              " but must be a shard file name; ", fix);
    const std::string shard = it.value().get<std::string>();
    bool bad = shard.empty() || shard.front() == '/';
    for (const auto& part : std::filesystem::path(shard)) bad = bad || part == "..";
    if (bad)
      OT_FAIL(where, ": weight_map entry ", quote(it.key()), " names shard ", quote(shard),
              ", which is not a file name inside the checkpoint directory (empty names, absolute "
              "paths and '..' are not allowed); ", fix);
    out.emplace_back(it.key(), shard);
  }
  return out;
}

}  // namespace detail

SafetensorsIndex SafetensorsIndex::open(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st))
    OT_FAIL(dir, ": checkpoint directory does not exist; check the path");
  if (!fs::is_directory(st))
    OT_FAIL(dir, ": is not a directory; pass the checkpoint directory that holds model.safetensors "
            "or model.safetensors.index.json");
  SafetensorsIndex ix;
  ix.dir_ = dir;
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";

  if (fs::exists(index_path, ec)) {
    ix.sharded_ = true;
    const auto entries = detail::parse_weight_map(index_path, read_text_file(index_path));
    std::map<std::string, std::vector<std::string>> by_shard;  // sorted by shard file name
    for (const auto& [tensor, shard] : entries) by_shard[shard].push_back(tensor);
    for (const auto& [shard, tensors] : by_shard) {
      const std::string shard_path = dir + "/" + shard;
      if (!fs::exists(shard_path, ec))
        OT_FAIL(index_path, ": weight_map puts ", tensors.size(), " tensor(s) (e.g. ",
                quote(tensors.front()), ") in shard ", quote(shard), ", but ", shard_path,
                " does not exist; the checkpoint is incomplete: copy or re-download the missing shard");
      SafetensorsFile f = SafetensorsFile::open(shard_path);
      for (const std::string& t : tensors)
        if (!f.contains(t))
          OT_FAIL(index_path, ": weight_map puts tensor ", quote(t), " in shard ", quote(shard),
                  ", but that shard has no such tensor (it holds ", f.size(), "; closest: ",
                  close_names(f.names(), t), "); the index does not match its shards: "
                  "re-download or re-export the checkpoint");
      const size_t i = ix.files_.size();
      for (const std::string& t : tensors) ix.shard_of_[t] = i;
      ix.files_.push_back(std::move(f));
    }
    for (size_t i = 0; i < ix.files_.size(); ++i)
      for (const std::string& t : ix.files_[i].names()) {
        const auto it = ix.shard_of_.find(t);
        if (it != ix.shard_of_.end() && it->second == i) ix.names_.push_back(t);
      }
  } else if (fs::exists(single_path, ec)) {
    ix.files_.push_back(SafetensorsFile::open(single_path));
    ix.names_ = ix.files_[0].names();
    for (const std::string& t : ix.names_) ix.shard_of_[t] = 0;
  } else {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".safetensors") found.push_back(e.path().filename().string());
    std::sort(found.begin(), found.end());
    std::string others;
    for (const std::string& f : found) others += (others.empty() ? "" : ", ") + f;
    OT_FAIL(dir, ": no safetensors checkpoint here: expected model.safetensors or "
            "model.safetensors.index.json (with the shards it names)",
            others.empty() ? std::string() : "; the directory holds only " + others,
            "; pass a Hugging Face model directory");
  }
  return ix;
}

size_t SafetensorsIndex::shard_index(const std::string& name) const {
  const auto it = shard_of_.find(name);
  if (it == shard_of_.end())
    OT_FAIL(dir_, ": the checkpoint has no tensor named ", quote(name), " (it holds ",
            names_.size(), " tensors; closest: ", close_names(names_, name), ")");
  return it->second;
}

bool SafetensorsIndex::contains(const std::string& name) const { return shard_of_.count(name) != 0; }

const TensorInfo& SafetensorsIndex::info(const std::string& name) const {
  return files_[shard_index(name)].info(name);
}

const uint8_t* SafetensorsIndex::data(const std::string& name) const {
  return files_[shard_index(name)].data(name);
}

const SafetensorsFile& SafetensorsIndex::file_of(const std::string& name) const {
  return files_[shard_index(name)];
}

// ---------------------------------------------------------------------------------------------
// SafetensorsWriter

SafetensorsWriter::SafetensorsWriter(std::string path) : path_(std::move(path)) {}

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes) {
  if (name == "__metadata__")
    OT_FAIL(path_, ": cannot write a tensor named '__metadata__': the name is reserved for the "
            "file's metadata");
  if (positions_.count(name))
    OT_FAIL(path_, ": tensor ", quote(name), " was added twice; tensor names must be unique");
  try {
    (void)json(name).dump();  // the header is JSON: names must be valid UTF-8
  } catch (const json::exception&) {
    OT_FAIL(path_, ": tensor name ", quote(name), " is not valid UTF-8; rename the tensor");
  }
  uint64_t numel = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0)
      OT_FAIL(path_, ": tensor ", quote(name), " has shape ", shape_str(shape),
              "; dimensions must be non-negative");
    overflow = overflow || !checked_mul(numel, static_cast<uint64_t>(d), &numel);
  }
  uint64_t bytes = 0;
  if (overflow || !checked_mul(numel, dtype_size(dtype), &bytes))
    OT_FAIL(path_, ": tensor ", quote(name), " has shape ", shape_str(shape),
            " whose size overflows 64 bits");
  if (bytes != nbytes)
    OT_FAIL(path_, ": tensor ", quote(name), " has shape ", shape_str(shape), " (", numel, " x ",
            dtype_name(dtype), " = ", bytes, " bytes) but ", nbytes, " bytes of data were given");
  OT_CHECK(data != nullptr || nbytes == 0, "tensor ", name);
  positions_[name] = entries_.size();
  entries_.push_back({name, dtype, shape, static_cast<const uint8_t*>(data), nbytes});
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  try {
    (void)json(key).dump();
    (void)json(value).dump();
  } catch (const json::exception&) {
    OT_FAIL(path_, ": metadata ", quote(key), " is not valid UTF-8 text; the header is JSON");
  }
  metadata_[key] = value;
}

std::vector<size_t> SafetensorsWriter::data_order() const {
  std::vector<size_t> order(entries_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Sizes are powers of two and each tensor's length a multiple of its element size, so placing
  // larger elements first keeps every offset a multiple of its own element size.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(entries_[a].dtype) > dtype_size(entries_[b].dtype);
  });
  return order;
}

std::string SafetensorsWriter::header_bytes() const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  uint64_t off = 0;
  for (size_t i : data_order()) {
    const Entry& e = entries_[i];
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    t["dtype"] = dtype_name(e.dtype);
    t["shape"] = e.shape;
    t["data_offsets"] = nlohmann::ordered_json::array({off, off + e.nbytes});
    h[e.name] = std::move(t);
    off += e.nbytes;
  }
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data then starts at an 8-byte boundary
  if (text.size() > kSafetensorsMaxHeaderBytes)
    OT_FAIL(path_, ": the header would be ", text.size(), " bytes, over the ",
            kSafetensorsMaxHeaderBytes, "-byte limit readers accept; split the tensors over shards");
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return out + text;
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
  const std::string head = header_bytes();
  std::vector<uint8_t> out(head.begin(), head.end());
  for (size_t i : data_order()) {
    const Entry& e = entries_[i];
    out.insert(out.end(), e.data, e.data + e.nbytes);
  }
  return out;
}

void SafetensorsWriter::write() const {
  const std::string head = header_bytes();
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    OT_FAIL(path_, ": cannot create the temporary file ", tmp, ": ", std::strerror(err),
            errno_hint(err));
  }
  // On any failure: remove the temporary file so nothing partial is left behind.
  auto fail = [&](const char* step, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    OT_FAIL(path_, ": ", step, " ", tmp, " failed: ", std::strerror(err), errno_hint(err));
  };
  int err = write_all(fd, reinterpret_cast<const uint8_t*>(head.data()), head.size());
  for (size_t i : data_order()) {
    if (err != 0) break;
    err = write_all(fd, entries_[i].data, entries_[i].nbytes);
  }
  if (err != 0) fail("writing", err);
  if (::fsync(fd) != 0) fail("flushing (fsync)", errno);
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("closing", errno);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    OT_FAIL(path_, ": cannot rename ", tmp, " to it: ", std::strerror(err), errno_hint(err));
  }
  // Make the rename itself durable. Best effort: the file is complete either way, and some
  // filesystems refuse fsync on directories.
  std::string parent = std::filesystem::path(path_).parent_path().string();
  if (parent.empty()) parent = ".";
  const int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace omnitune
