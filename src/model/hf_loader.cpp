// Checkpoint loading. Tensors are materialised one at a time straight from the mapping, so peak
// memory is the model itself (plus one tensor when converting dtypes), never a second full copy.
#include "model/hf_loader.h"

#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/safetensors.h"
#include "nn/tensor_io.h"

namespace omnitune {
namespace {

at::ScalarType scalar_type_of(DType d, const std::string& name) {
  try {
    return scalar_type_from_dtype(d);
  } catch (const Error&) {
    OT_FAIL("tensor '", name, "' has dtype ", dtype_name(d), ", which omnitune cannot load");
  }
}

// (internal prefix, legacy hub prefix) pairs, longest first.
const std::vector<std::pair<std::string, std::string>>& legacy_prefixes() {
  static const std::vector<std::pair<std::string, std::string>> p = {
      {"model.language_model.", "language_model.model."},
      {"model.vision_tower.", "vision_tower."},
      {"model.multi_modal_projector.", "multi_modal_projector."},
  };
  return p;
}

std::string join_some(const std::vector<std::string>& v, size_t limit) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < limit; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > limit) s += str_cat(", ... (", v.size() - limit, " more)");
  return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

std::vector<std::string> hf_candidate_names(const std::string& name) {
  std::vector<std::string> out{name};
  for (const auto& [mine, hub] : legacy_prefixes()) {
    if (name.rfind(mine, 0) == 0) out.push_back(hub + name.substr(mine.size()));
  }
  return out;
}

std::map<std::string, std::vector<int64_t>> hf_checkpoint_shapes(const std::string& dir) {
  const SafetensorsIndex ckpt = SafetensorsIndex::open(dir);
  std::map<std::string, std::vector<int64_t>> out;
  for (const std::string& n : ckpt.names()) out[n] = ckpt.info(n).shape;
  return out;
}

HfLoadReport hf_load_checkpoint(const std::string& dir, ParamList& params, const HfLoadOptions& opt) {
  auto ckpt = std::make_shared<SafetensorsIndex>(SafetensorsIndex::open(dir));
  HfLoadReport report;
  std::set<std::string> used;
  std::vector<std::string> missing;
  bool legacy = false;
  for (NamedParam& p : params) {
    std::string found;
    for (const std::string& cand : hf_candidate_names(p.name)) {
      if (ckpt->contains(cand)) {
        found = cand;
        break;
      }
    }
    if (found.empty()) {
      missing.push_back(p.name);
      continue;
    }
    legacy = legacy || found != p.name;
    used.insert(found);
    const TensorInfo& info = ckpt->info(found);
    OT_REQUIRE(info.shape == p.shape, dir, ": tensor '", found, "' has shape ", shape_str(info.shape),
               " but the model (from config.json) needs ", shape_str(p.shape),
               ": config.json and the weights disagree");
    at::ScalarType st = scalar_type_of(info.dtype, found);
    const uint8_t* data = ckpt->data(found);
    const bool aligned = reinterpret_cast<uintptr_t>(data) % dtype_size(info.dtype) == 0;
    // The deleter keeps the mapping alive as long as any tensor points into it.
    at::Tensor view = at::from_blob(const_cast<uint8_t*>(data), info.shape, [ckpt](void*) {},
                                    at::TensorOptions().dtype(st));
    if (opt.zero_copy && aligned && (st == opt.dtype || opt.keep_file_dtype) && opt.device.is_cpu()) {
      *p.tensor = view;
      report.zero_copy++;
    } else if (aligned) {
      *p.tensor = view.to(opt.device, opt.dtype, /*non_blocking=*/false, /*copy=*/true);
    } else {
      // Unaligned data (legal in safetensors): copy the bytes first, then convert.
      at::Tensor bytes = at::empty(info.shape, at::TensorOptions().dtype(st));
      std::memcpy(bytes.data_ptr(), data, info.nbytes);
      *p.tensor = bytes.to(opt.device, opt.dtype);
    }
    report.tensors++;
    report.bytes += static_cast<int64_t>(info.nbytes);
  }
  OT_REQUIRE(missing.empty(), dir, ": the checkpoint lacks ", missing.size(), " tensor(s) the model needs: ",
             join_some(missing, 8), ". Is config.json the right one for these weights?");

  // A stored LM head must be the tied embedding (Gemma ties them); anything else is unexpected.
  std::vector<std::string> unexpected;
  for (const std::string& n : ckpt->names()) {
    if (used.count(n)) continue;
    if (n == "lm_head.weight" || n == "language_model.lm_head.weight") {
      for (NamedParam& p : params) {
        if (p.name.size() >= 19 && p.name.compare(p.name.size() - 19, 19, "embed_tokens.weight") == 0) {
          at::Tensor head = at::from_blob(const_cast<uint8_t*>(ckpt->data(n)), ckpt->info(n).shape,
                                          [ckpt](void*) {}, at::TensorOptions().dtype(scalar_type_of(ckpt->info(n).dtype, n)));
          OT_REQUIRE(head.sizes() == p.tensor->sizes() && at::equal(head.to(p.tensor->dtype()), p.tensor->cpu()),
                     dir, ": '", n, "' differs from the embedding; omnitune supports tied LM heads only");
        }
      }
      continue;
    }
    if (opt.known_unused && opt.known_unused(n)) {
      report.ignored.push_back(n);
      continue;
    }
    unexpected.push_back(n);
  }
  if (!unexpected.empty()) {
    OT_REQUIRE(opt.allow_unexpected, dir, ": the checkpoint has ", unexpected.size(),
               " tensor(s) this model does not use: ", join_some(unexpected, 8),
               ". Check config.json, or pass --allow-unexpected to ignore them");
    report.ignored.insert(report.ignored.end(), unexpected.begin(), unexpected.end());
  }
  report.key_style = legacy ? "hub (legacy)" : "transformers>=4.52";
  return report;
}

}  // namespace omnitune
