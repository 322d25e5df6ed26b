// HDF5 helpers. Errors carry the file object's name; HDF5's own error stack printing is turned
// off so a bad file gives one clear omnitune::Error instead of a page of library internals.
#include "data/hdf5_util.h"

#include <zlib.h>

#include "core/error.h"

namespace omnitune {

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex m;
  return m;
}

namespace {
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
void silence() { static SilenceHdf5 s; }
}  // namespace

H5Handle::H5Handle(hid_t id, Kind kind, const std::string& what) : id_(id), kind_(kind) {
  OT_REQUIRE(id >= 0, "HDF5: ", what, " failed");
}

H5Handle::~H5Handle() { close(); }

H5Handle::H5Handle(H5Handle&& o) noexcept : id_(o.id_), kind_(o.kind_) { o.id_ = -1; }

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    close();
    id_ = o.id_;
    kind_ = o.kind_;
    o.id_ = -1;
  }
  return *this;
}

void H5Handle::close() {
  if (id_ < 0) return;
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  switch (kind_) {
    case Kind::File: H5Fclose(id_); break;
    case Kind::Group: H5Gclose(id_); break;
    case Kind::Dataset: H5Dclose(id_); break;
    case Kind::Dataspace: H5Sclose(id_); break;
    case Kind::Datatype: H5Tclose(id_); break;
    case Kind::Attribute: H5Aclose(id_); break;
    case Kind::Plist: H5Pclose(id_); break;
  }
  id_ = -1;
}

template <> hid_t h5_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t h5_type<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t h5_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t h5_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t h5_type<double>() { return H5T_NATIVE_DOUBLE; }

H5Handle h5_create(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  silence();
  return H5Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Handle::Kind::File,
                  "creating " + path + " (is the directory writable?)");
}

H5Handle h5_open_read(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  silence();
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Handle::Kind::Plist, "file access list");
#if H5_VERSION_GE(1, 10, 7)
  // Lustre/GPFS/NFS mounts often refuse flock; a read-only open needs no lock.
  H5Pset_file_locking(fapl.id(), false, true);
#endif
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id());
  OT_REQUIRE(f >= 0, "cannot open ", path, " as HDF5: missing, truncated or not an omnitune shard");
  return H5Handle(f, H5Handle::Kind::File, "opening " + path);
}

H5Handle h5_group(hid_t parent, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  // No modification times in object headers: the same data must give the same file bytes, so a
  // resumed run's shards have the same checksums as an uninterrupted run's.
  H5Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Handle::Kind::Plist, "group properties");
  H5Pset_obj_track_times(gcpl.id(), false);
  return H5Handle(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl.id(), H5P_DEFAULT), H5Handle::Kind::Group,
                  "creating group " + name);
}

namespace {

// Creates dataset `name` of `dims` (no modification times, so equal content gives equal bytes).
// chunk_rows > 0 chunks along the first dimension; deflate_level > 0 adds HDF5's deflate filter;
// never_fill skips fill values (for datasets whose every chunk is written); growable makes the
// first dimension unlimited (H5Dset_extent grows it; needs chunk_rows > 0).
H5Handle create_dataset(hid_t parent, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                        hsize_t chunk_rows = 0, int deflate_level = 0, bool never_fill = false,
                        bool growable = false) {
  std::vector<hsize_t> maxdims = dims;
  if (growable && !maxdims.empty()) maxdims[0] = H5S_UNLIMITED;
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()),
                 H5Handle::Kind::Dataspace, "dataspace for " + name);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Handle::Kind::Plist, "dataset properties");
  H5Pset_obj_track_times(dcpl.id(), false);
  if (chunk_rows > 0 && !dims.empty() && (dims[0] > 0 || growable)) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = growable ? chunk_rows : std::min(chunk_rows, dims[0]);
    H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data());
  }
  if (never_fill) H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_NEVER);
  if (deflate_level > 0) {
    OT_REQUIRE(H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0, "this HDF5 build has no deflate filter: set "
               "preprocess.image_compression=none");
    H5Pset_deflate(dcpl.id(), static_cast<unsigned>(deflate_level));
  }
  return H5Handle(H5Dcreate2(parent, name.c_str(), type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                  H5Handle::Kind::Dataset, "creating dataset " + name);
}

}  // namespace

template <typename T>
void h5_write(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims, const T* data,
              hsize_t chunk_rows) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  H5Handle ds = create_dataset(parent, name, h5_type<T>(), dims, chunk_rows);
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (n > 0) {
    OT_REQUIRE(H5Dwrite(ds.id(), h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, "HDF5: writing ", name,
               " failed (disk full?)");
  }
}

void h5_write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  H5Handle type(H5Tcopy(H5T_C_S1), H5Handle::Kind::Datatype, "string type");
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  const hsize_t n = values.size();
  H5Handle ds = create_dataset(parent, name, type.id(), {n});
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (n > 0) OT_REQUIRE(H5Dwrite(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) >= 0, "HDF5: writing ", name);
}

H5RowAppender::H5RowAppender(hid_t parent, std::string name, std::vector<hsize_t> row_dims, int deflate_level)
    : parent_(parent), name_(std::move(name)), row_dims_(std::move(row_dims)), deflate_level_(deflate_level) {
  OT_CHECK(deflate_level >= 0 && deflate_level <= 9, "deflate level ", deflate_level, " (0..9)");
  for (hsize_t d : row_dims_) row_bytes_ *= d;
}

hsize_t H5RowAppender::append(const uint8_t* row) {
  if (deflate_level_ == 0)
    write_chunk(row, row_bytes_);
  else
    append_deflated(h5_deflate_row(row, row_bytes_, deflate_level_));
  return rows_ - 1;
}

hsize_t H5RowAppender::append_deflated(const std::vector<uint8_t>& packed) {
  OT_CHECK(deflate_level_ > 0, name_, ": a deflated row for a dataset stored raw");
  write_chunk(packed.data(), packed.size());
  return rows_ - 1;
}

void H5RowAppender::write_chunk(const void* data, size_t size) {
  OT_CHECK(!closed_, name_, ": append after close");
  std::vector<hsize_t> dims{rows_ + 1};
  dims.insert(dims.end(), row_dims_.begin(), row_dims_.end());
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  if (rows_ == 0) {
    ds_ = create_dataset(parent_, name_, h5_type<uint8_t>(), dims, 1, deflate_level_, /*never_fill=*/true,
                         /*growable=*/true);
  } else {
    OT_REQUIRE(H5Dset_extent(ds_.id(), dims.data()) >= 0, "HDF5: growing ", name_, " to ", rows_ + 1, " rows failed");
  }
  std::vector<hsize_t> offset(dims.size(), 0);
  offset[0] = rows_;
  OT_REQUIRE(H5Dwrite_chunk(ds_.id(), H5P_DEFAULT, 0, offset.data(), size, data) >= 0, "HDF5: writing ", name_,
             " row ", rows_, " failed (disk full?)");
  ++rows_;
}

void H5RowAppender::close() {
  if (closed_) return;
  closed_ = true;
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  if (rows_ == 0) {
    std::vector<hsize_t> dims{0};
    dims.insert(dims.end(), row_dims_.begin(), row_dims_.end());
    h5_write<uint8_t>(parent_, name_, dims, nullptr);
  }
  ds_.close();
}

std::vector<uint8_t> h5_deflate_row(const uint8_t* row, size_t bytes, int deflate_level) {
  OT_CHECK(deflate_level >= 1 && deflate_level <= 9, "deflate level ", deflate_level, " (1..9)");
  std::vector<uint8_t> packed(compressBound(static_cast<uLong>(bytes)));
  uLongf n = static_cast<uLongf>(packed.size());
  OT_CHECK(compress2(packed.data(), &n, row, static_cast<uLong>(bytes), deflate_level) == Z_OK, "zlib compress2 failed");
  packed.resize(n);
  return packed;
}

bool h5_exists(hid_t file, const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  // Check each component: H5Lexists fails on a missing intermediate group.
  size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (part.empty() || part == "/") {
      if (pos == std::string::npos) return true;
      continue;
    }
    if (H5Lexists(file, part.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

namespace {
H5Handle open_dataset(hid_t file, const std::string& name) {
  OT_REQUIRE(h5_exists(file, name), "shard has no dataset '", name, "': not an omnitune shard, or a different schema version");
  return H5Handle(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Handle::Kind::Dataset, "opening dataset " + name);
}
}  // namespace

std::vector<hsize_t> h5_dims(hid_t file, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  H5Handle ds = open_dataset(file, name);
  H5Handle space(H5Dget_space(ds.id()), H5Handle::Kind::Dataspace, "dataspace of " + name);
  int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return dims;
}

template <typename T>
std::vector<T> h5_read_all(hid_t file, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  auto dims = h5_dims(file, name);
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<T> out(n);
  H5Handle ds = open_dataset(file, name);
  if (n > 0) OT_REQUIRE(H5Dread(ds.id(), h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0,
                        "HDF5: reading ", name, " failed (corrupt shard?)");
  return out;
}

template <typename T>
void h5_read_rows(hid_t file, const std::string& name, hsize_t row, hsize_t count, std::vector<T>& out) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  auto dims = h5_dims(file, name);
  OT_REQUIRE(!dims.empty() && row + count <= dims[0], "HDF5: rows [", row, ", ", row + count, ") outside ", name,
             " with ", dims.empty() ? 0 : dims[0], " rows (corrupt shard index?)");
  hsize_t per_row = 1;
  for (size_t i = 1; i < dims.size(); ++i) per_row *= dims[i];
  out.resize(count * per_row);
  if (count == 0) return;
  H5Handle ds = open_dataset(file, name);
  H5Handle fspace(H5Dget_space(ds.id()), H5Handle::Kind::Dataspace, "dataspace");
  std::vector<hsize_t> start(dims.size(), 0), cnt = dims;
  start[0] = row;
  cnt[0] = count;
  H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr);
  H5Handle mspace(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr), H5Handle::Kind::Dataspace, "mem space");
  OT_REQUIRE(H5Dread(ds.id(), h5_type<T>(), mspace.id(), fspace.id(), H5P_DEFAULT, out.data()) >= 0, "HDF5: reading ",
             name, " rows failed (corrupt shard?)");
}

std::vector<std::string> h5_read_strings(hid_t file, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  H5Handle ds = open_dataset(file, name);
  H5Handle space(H5Dget_space(ds.id()), H5Handle::Kind::Dataspace, "dataspace");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id(), &n, nullptr);
  H5Handle type(H5Tcopy(H5T_C_S1), H5Handle::Kind::Datatype, "string type");
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  std::vector<char*> ptrs(n, nullptr);
  std::vector<std::string> out;
  if (n == 0) return out;
  OT_REQUIRE(H5Dread(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) >= 0, "HDF5: reading ", name);
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  H5Dvlen_reclaim(type.id(), space.id(), H5P_DEFAULT, ptrs.data());
  return out;
}

void h5_attr_write(hid_t obj, const std::string& name, const std::string& value) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  H5Handle type(H5Tcopy(H5T_C_S1), H5Handle::Kind::Datatype, "string type");
  H5Tset_size(type.id(), std::max<size_t>(1, value.size()));
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  H5Handle space(H5Screate(H5S_SCALAR), H5Handle::Kind::Dataspace, "scalar");
  H5Handle a(H5Acreate2(obj, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Handle::Kind::Attribute,
             "attribute " + name);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Awrite(a.id(), type.id(), padded.data());
}

void h5_attr_write(hid_t obj, const std::string& name, int64_t value) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  H5Handle space(H5Screate(H5S_SCALAR), H5Handle::Kind::Dataspace, "scalar");
  H5Handle a(H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space.id(), H5P_DEFAULT, H5P_DEFAULT),
             H5Handle::Kind::Attribute, "attribute " + name);
  H5Awrite(a.id(), H5T_NATIVE_INT64, &value);
}

void h5_attr_write(hid_t obj, const std::string& name, const std::vector<double>& value) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  hsize_t n = value.size();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Handle::Kind::Dataspace, "attr space");
  H5Handle a(H5Acreate2(obj, name.c_str(), H5T_NATIVE_DOUBLE, space.id(), H5P_DEFAULT, H5P_DEFAULT),
             H5Handle::Kind::Attribute, "attribute " + name);
  H5Awrite(a.id(), H5T_NATIVE_DOUBLE, value.data());
}

bool h5_attr_exists(hid_t obj, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  return H5Aexists(obj, name.c_str()) > 0;
}

std::string h5_attr_string(hid_t obj, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  OT_REQUIRE(h5_attr_exists(obj, name), "shard lacks attribute '", name, "'");
  H5Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Handle::Kind::Attribute, "attribute " + name);
  H5Handle type(H5Aget_type(a.id()), H5Handle::Kind::Datatype, "attribute type");
  size_t size = H5Tget_size(type.id());
  std::string s(size, '\0');
  H5Aread(a.id(), type.id(), s.data());
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

int64_t h5_attr_int(hid_t obj, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  OT_REQUIRE(h5_attr_exists(obj, name), "shard lacks attribute '", name, "'");
  H5Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Handle::Kind::Attribute, "attribute " + name);
  int64_t v = 0;
  H5Aread(a.id(), H5T_NATIVE_INT64, &v);
  return v;
}

std::vector<double> h5_attr_doubles(hid_t obj, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  OT_REQUIRE(h5_attr_exists(obj, name), "shard lacks attribute '", name, "'");
  H5Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Handle::Kind::Attribute, "attribute " + name);
  H5Handle space(H5Aget_space(a.id()), H5Handle::Kind::Dataspace, "attr space");
  hssize_t n = H5Sget_simple_extent_npoints(space.id());
  std::vector<double> v(std::max<hssize_t>(n, 0));
  H5Aread(a.id(), H5T_NATIVE_DOUBLE, v.data());
  return v;
}

#define OT_H5_INSTANTIATE(T)                                                                             \
  template void h5_write<T>(hid_t, const std::string&, const std::vector<hsize_t>&, const T*, hsize_t); \
  template std::vector<T> h5_read_all<T>(hid_t, const std::string&);                                   \
  template void h5_read_rows<T>(hid_t, const std::string&, hsize_t, hsize_t, std::vector<T>&);
OT_H5_INSTANTIATE(uint8_t)
OT_H5_INSTANTIATE(int32_t)
OT_H5_INSTANTIATE(int64_t)
OT_H5_INSTANTIATE(float)
OT_H5_INSTANTIATE(double)

}  // namespace omnitune
