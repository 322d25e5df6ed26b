// at::Tensor views over safetensors bytes, and the reverse for writing.
#include "nn/tensor_io.h"

#include <cstring>

#include "core/error.h"

namespace omnitune {

at::ScalarType scalar_type_from_dtype(DType d) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F64: return at::kDouble;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
    default: break;
  }
  OT_FAIL("safetensors dtype ", dtype_name(d), " has no LibTorch equivalent here");
}

DType dtype_from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kDouble: return DType::F64;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: break;
  }
  throw InternalError(str_cat("no safetensors dtype for ", t));
}

at::Tensor safetensors_read(const SafetensorsFile& file, const std::string& name) {
  const TensorInfo& info = file.info(name);
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(scalar_type_from_dtype(info.dtype)));
  if (info.nbytes) std::memcpy(t.data_ptr(), file.data(name), info.nbytes);
  return t;
}

void safetensors_write(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w(path);
  std::vector<at::Tensor> keep;  // contiguous CPU copies must outlive write()
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    keep.push_back(c);
    w.add(name, dtype_from_scalar_type(c.scalar_type()), c.sizes().vec(), c.data_ptr(),
          static_cast<size_t>(c.numel()) * c.element_size());
  }
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  w.write();
}

}  // namespace omnitune
