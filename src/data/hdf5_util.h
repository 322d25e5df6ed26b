// Thin RAII and helpers over the HDF5 C API for the shard format: handles that close themselves,
// typed 1-D/N-D dataset and attribute I/O, variable-length strings. Debian's HDF5 with MPI is not
// built thread-safe, so every call made through here holds one process-wide lock.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace omnitune {

// The process-wide HDF5 lock (the library is not thread-safe in this build).
std::recursive_mutex& hdf5_mutex();

// Owns an hid_t and closes it with the right H5*close.
class H5Handle {
 public:
  enum class Kind { File, Group, Dataset, Dataspace, Datatype, Attribute, Plist };
  H5Handle() = default;
  H5Handle(hid_t id, Kind kind, const std::string& what);  // Error naming `what` when id < 0
  ~H5Handle();
  H5Handle(H5Handle&& o) noexcept;
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t id() const { return id_; }
  void close();

 private:
  hid_t id_ = -1;
  Kind kind_ = Kind::File;
};

// The HDF5 memory/file type for a C++ element type.
template <typename T> hid_t h5_type();

// Files
H5Handle h5_create(const std::string& path);     // truncates
H5Handle h5_open_read(const std::string& path);  // read-only, file locking off (parallel FS)
H5Handle h5_group(hid_t parent, const std::string& name);  // create

// Datasets. `chunk_rows` > 0 chunks along the first dimension.
template <typename T>
void h5_write(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims, const T* data,
              hsize_t chunk_rows = 0);
void h5_write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values);
// Appends rows to a uint8 dataset of rows shaped `row_dims`, one row per chunk, each written
// straight from the caller's buffer with H5Dwrite_chunk as it arrives (no chunk cache, no fill
// values), so a writer holds one row, not the dataset. The dataset is created at the first row,
// grows by one row per append, and an appender that got no rows leaves an empty contiguous
// dataset (as h5_write makes). deflate_level 1..9 stores zlib streams (the format HDF5's deflate
// filter reads; the filter is recorded on the dataset): append() compresses, or takes a row that
// h5_deflate_row already compressed (so threads can compress in parallel). Not thread-safe: one
// appender is fed by one caller at a time (its HDF5 calls hold the process-wide lock).
class H5RowAppender {
 public:
  H5RowAppender(hid_t parent, std::string name, std::vector<hsize_t> row_dims, int deflate_level);
  // Appends one row (the product of row_dims bytes); returns its index.
  hsize_t append(const uint8_t* row);
  // Appends a row compressed by h5_deflate_row at this appender's level.
  hsize_t append_deflated(const std::vector<uint8_t>& packed);
  // The empty dataset when no row came; afterwards append() is an error.
  void close();

 private:
  void write_chunk(const void* data, size_t size);
  hid_t parent_;
  std::string name_;
  std::vector<hsize_t> row_dims_;
  int deflate_level_;
  size_t row_bytes_ = 1;
  hsize_t rows_ = 0;
  bool closed_ = false;
  H5Handle ds_;
};
// The zlib stream of one row as H5RowAppender stores it at `deflate_level` (1..9).
std::vector<uint8_t> h5_deflate_row(const uint8_t* row, size_t bytes, int deflate_level);

std::vector<hsize_t> h5_dims(hid_t file, const std::string& name);
template <typename T>
std::vector<T> h5_read_all(hid_t file, const std::string& name);
// Rows [row, row + count) of an N-D dataset (row-major), into `out` (resized).
template <typename T>
void h5_read_rows(hid_t file, const std::string& name, hsize_t row, hsize_t count, std::vector<T>& out);
std::vector<std::string> h5_read_strings(hid_t file, const std::string& name);
bool h5_exists(hid_t file, const std::string& path);

// Attributes on the root group.
void h5_attr_write(hid_t obj, const std::string& name, const std::string& value);
void h5_attr_write(hid_t obj, const std::string& name, int64_t value);
void h5_attr_write(hid_t obj, const std::string& name, const std::vector<double>& value);
std::string h5_attr_string(hid_t obj, const std::string& name);
int64_t h5_attr_int(hid_t obj, const std::string& name);
std::vector<double> h5_attr_doubles(hid_t obj, const std::string& name);
bool h5_attr_exists(hid_t obj, const std::string& name);

}  // namespace omnitune
