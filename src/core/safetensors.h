// Safetensors I/O (the Hugging Face checkpoint format): a reader that memory-maps a file and
// validates its whole header before any tensor is touched, a sharded-checkpoint view over
// `model.safetensors.index.json`, and an atomic writer. No LibTorch here: the preprocessor uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace omnitune {

// Element types of the safetensors format, spelled as in its header.
enum class DType : uint8_t {
  BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64
};

size_t dtype_size(DType dtype);                                // bytes per element, e.g. BF16 -> 2
const char* dtype_name(DType dtype);                           // header spelling, e.g. "BF16"
std::optional<DType> dtype_from_name(const std::string& name);  // nullopt if unknown

// Header limit, as in the Python library: a larger length means the file is not safetensors.
constexpr uint64_t kSafetensorsMaxHeaderBytes = 100000000;

// Where one tensor lives. Invariant (checked at open): nbytes == numel() * dtype_size(dtype) and
// [offset, offset + nbytes) lies inside the file.
struct TensorInfo {
  DType dtype = DType::U8;
  std::vector<int64_t> shape;  // [] for a scalar; a 0 anywhere means an empty tensor
  uint64_t offset = 0;         // byte offset of the data from the start of the FILE (not the buffer)
  uint64_t nbytes = 0;
  int64_t numel() const;       // product of shape (1 for a scalar)
};

// One safetensors file, memory-mapped read-only (or held in memory by from_buffer). Movable, not
// copyable; unmaps on destruction, so data() pointers live as long as the object.
class SafetensorsFile {
 public:
  // Maps and validates `path`. Throws Error naming the file (and tensor) on any problem: too
  // short, bad header length, bad JSON, duplicate names, unknown dtype, bad shape, offsets that
  // overflow, mismatch the shape, overlap, leave holes or run past the end.
  static SafetensorsFile open(const std::string& path);
  // Same validation on bytes already in memory; `name` stands in for the path in messages.
  // Lets the fuzz target and tests parse without the filesystem.
  static SafetensorsFile from_buffer(std::string name, std::vector<uint8_t> bytes);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  // Tensor names in the order their bytes lie in the file (by data offset; empty tensors that
  // share an offset are ordered by name), so reading in this order is sequential.
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }
  bool contains(const std::string& name) const;
  // Throws Error naming the file, the missing name and the closest names present.
  const TensorInfo& info(const std::string& name) const;
  // Zero-copy pointer to the tensor's bytes inside the mapping (not necessarily aligned: use
  // memcpy for element access). For an empty tensor it points at its offset and must not be read.
  const uint8_t* data(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_start() const { return data_start_; }  // 8 + header length

 private:
  SafetensorsFile() = default;
  void parse();  // validates base_[0, size_) and fills the tables below
  void release() noexcept;

  std::string path_;
  const uint8_t* base_ = nullptr;  // start of the file's bytes (mapping or owned_)
  uint64_t size_ = 0;
  void* map_ = nullptr;  // non-null when base_ is an mmap of map_len_ bytes
  size_t map_len_ = 0;
  std::vector<uint8_t> owned_;  // from_buffer: the bytes; a vector's move keeps base_ valid
  uint64_t data_start_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face checkpoint directory: sharded (`model.safetensors.index.json` + the shards its
// weight_map names) or single (`model.safetensors`). The same access API as SafetensorsFile.
class SafetensorsIndex {
 public:
  // Uses the index if present, else model.safetensors; opens every shard once and checks that
  // each weight_map entry is in its shard. Throws Error naming the directory, index, shard and
  // tensor concerned.
  static SafetensorsIndex open(const std::string& dir);

  SafetensorsIndex(SafetensorsIndex&&) noexcept = default;
  SafetensorsIndex& operator=(SafetensorsIndex&&) noexcept = default;
  SafetensorsIndex(const SafetensorsIndex&) = delete;
  SafetensorsIndex& operator=(const SafetensorsIndex&) = delete;

  // Names in shard order (shards sorted by file name), then by offset within each shard. For a
  // sharded checkpoint, exactly the weight_map's tensors (a shard's unlisted tensors are hidden).
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // Error with close names if missing
  const uint8_t* data(const std::string& name) const;
  const SafetensorsFile& file_of(const std::string& name) const;  // the shard holding `name`
  const std::vector<SafetensorsFile>& files() const { return files_; }
  const std::string& dir() const { return dir_; }
  bool sharded() const { return sharded_; }

 private:
  SafetensorsIndex() = default;
  size_t shard_index(const std::string& name) const;

  std::string dir_;
  bool sharded_ = false;
  std::vector<SafetensorsFile> files_;
  std::vector<std::string> names_;
  std::map<std::string, size_t> shard_of_;  // tensor name -> position in files_
};

// Builds a safetensors file from tensors already in memory. Data is laid out contiguously by
// element size, largest first (a stable order: same-size tensors keep the order they were added),
// and the header is padded with spaces so the data starts 8-byte aligned; together every tensor is
// aligned to its element size, as with the Python library, so readers can use it in place.
// write() is atomic: it writes `<path>.tmp.<pid>`, fsyncs it and renames it over `path`, so a
// crash never leaves a partial file.
class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::string path);

  // `data` is not copied: it must stay valid until write()/to_bytes() returns. Throws Error on a
  // duplicate or reserved name, a negative dimension, or nbytes != numel * dtype_size.
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
           const void* data, size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);

  // Writes the file atomically; throws Error naming the path and the system's reason.
  void write() const;
  // The whole file in memory (tests, fuzz seeds, small files).
  std::vector<uint8_t> to_bytes() const;
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    const uint8_t* data;
    uint64_t nbytes;
  };
  std::vector<size_t> data_order() const;  // positions in entries_, in file order
  std::string header_bytes() const;        // 8-byte length + padded JSON

  std::string path_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> positions_;  // name -> position in entries_ (rejects duplicates)
  std::map<std::string, std::string> metadata_;
};

namespace detail {
// Parses a `model.safetensors.index.json` text into (tensor, shard file) pairs sorted by tensor
// name. `where` names the index in messages. Exposed for SafetensorsIndex and the fuzz target.
std::vector<std::pair<std::string, std::string>> parse_weight_map(const std::string& where,
                                                                  const std::string& text);
}  // namespace detail

}  // namespace omnitune
