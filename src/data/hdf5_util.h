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
// A uint8 dataset of dims[0] rows, one row per chunk, each chunk written straight from rows[i]
// (product of dims[1..] bytes) with H5Dwrite_chunk: no gather into one shard-sized buffer, no chunk
// cache, no fill values. deflate_level 1..9 compresses each chunk here with zlib, the stream HDF5's
// deflate filter reads, and records that filter on the dataset; 0 stores the rows as they are.
void h5_write_row_chunks(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims,
                         const std::vector<const uint8_t*>& rows, int deflate_level);

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
