// LibTorch <-> safetensors: read a named tensor as an at::Tensor (a copy, safe to modify) and write
// a set of named tensors atomically. Used by omnitune-forward, tests and checkpoints.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace omnitune {

at::ScalarType scalar_type_from_dtype(DType d);  // Error for dtypes LibTorch lacks
DType dtype_from_scalar_type(at::ScalarType t);

// A copy of `name` from `file` (Error naming the file and the closest names if absent).
at::Tensor safetensors_read(const SafetensorsFile& file, const std::string& name);

// Writes the tensors (CPU copies are made as needed) to `path` atomically, in the given order.
void safetensors_write(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace omnitune
