#include "model/gemma3n_submodel.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/text_util.h"
#include "model/gemma3n_config.h"
#include "model/hf_config_json.h"
#include "nn/hf_writer.h"
#include "nn/tensor_io.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

std::vector<int64_t> parse_ints(const std::string& list, const std::string& what) {
  std::vector<int64_t> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      OT_REQUIRE(used == item.size(), "");
    } catch (const std::exception&) {
      OT_FAIL("sub-model spec: '", item, "' in ", what, " is not an integer");
    }
  }
  OT_REQUIRE(!out.empty(), "sub-model spec: ", what, " is empty");
  return out;
}

// The last non-KV-shared layer of each type: the layers KV-shared layers read.
std::set<int64_t> kv_sources(const Gemma3nTextConfig& t) {
  std::set<int64_t> out;
  const int64_t first = t.first_kv_shared_layer();
  for (bool sliding : {true, false})
    for (int64_t j = first - 1; j >= 0; --j)
      if (t.layer_is_sliding[size_t(j)] == sliding) {
        if (t.num_kv_shared_layers > 0) out.insert(j);
        break;
      }
  return out;
}

at::Tensor read(const SafetensorsIndex& ckpt, const std::string& name) {
  const TensorInfo& info = ckpt.info(name);
  return at::from_blob(const_cast<uint8_t*>(ckpt.data(name)), info.shape,
                       at::TensorOptions().dtype(scalar_type_from_dtype(info.dtype)));
}

}  // namespace

Gemma3nSubmodelSpec gemma3n_submodel_spec_parse(const std::string& text) {
  Gemma3nSubmodelSpec s;
  if (text == "e2b") {
    s.preset = "e2b";
    s.ffn = {8192};
    s.skip_layers = {20, 21, 22, 23, 24};
    return s;
  }
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ';')) {
    const auto eq = part.find('=');
    OT_REQUIRE(eq != std::string::npos, "sub-model spec '", text, "': expected e2b or ffn=W[,W...];skip=i[,i...]");
    const std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "ffn") s.ffn = parse_ints(value, "ffn");
    else if (key == "skip") s.skip_layers = parse_ints(value, "skip");
    else OT_FAIL("sub-model spec '", text, "': unknown part '", key, "' (use ffn= and skip=)");
  }
  return s;
}

Gemma3nSubmodelReport gemma3n_extract_submodel(const std::string& in_dir, const std::string& out_dir,
                                               const Gemma3nSubmodelSpec& spec, int64_t max_shard_bytes) {
  const Gemma3nConfig cfg = gemma3n_config_load(in_dir);
  const Gemma3nTextConfig& t = cfg.text;
  const int64_t L = t.num_hidden_layers, first_shared = t.first_kv_shared_layer();
  Gemma3nSubmodelReport rep;
  rep.layers_in = L;
  OT_REQUIRE(spec.preset != "e2b" || (L == 35 && t.num_kv_shared_layers == 15), "sub-model: the e2b preset slices an "
             "E4B checkpoint (35 layers, 15 KV-shared); ", in_dir, " has ", L, " layers, ", t.num_kv_shared_layers,
             " KV-shared: give ffn= and skip= instead");

  const std::set<int64_t> skip(spec.skip_layers.begin(), spec.skip_layers.end());
  const std::set<int64_t> sources = kv_sources(t);
  for (int64_t i : skip) {
    OT_REQUIRE(i >= 0 && i < L, "sub-model: layer ", i, " to skip is outside 0..", L - 1);
    OT_REQUIRE(!sources.count(i), "sub-model: layer ", i, " cannot be dropped: KV-shared layers read its keys and values");
  }
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < L; ++i)
    if (!skip.count(i)) kept.push_back(i);
  OT_REQUIRE(!kept.empty(), "sub-model: every layer would be dropped");
  std::vector<int64_t> width(kept.size());
  for (size_t k = 0; k < kept.size(); ++k) {
    const int64_t orig = t.intermediate_size[size_t(kept[k])];
    width[k] = spec.ffn.empty() ? orig : spec.ffn.size() == 1 ? spec.ffn[0] : 0;
    if (spec.ffn.size() > 1) {
      OT_REQUIRE(spec.ffn.size() == kept.size(), "sub-model: ffn lists ", spec.ffn.size(), " widths for ", kept.size(),
                 " kept layers");
      width[k] = spec.ffn[k];
    }
    OT_REQUIRE(width[k] > 0 && width[k] <= orig, "sub-model: layer ", kept[k], " has MLP width ", orig,
               "; a sub-model keeps 1..", orig, " units, not ", width[k]);
  }
  int64_t shared_kept = 0;
  for (int64_t i : kept) shared_kept += i >= first_shared ? 1 : 0;

  // config.json: the text config's per-layer lists and counts.
  std::string cfg_file;
  nlohmann::json j = hf_config_parse_object(hf_config_read_file(in_dir, cfg_file), cfg_file);
  nlohmann::json& tc = j["text_config"];
  std::vector<std::string> types;
  std::vector<double> sparsity;
  for (int64_t i : kept) {
    types.push_back(t.layer_is_sliding[size_t(i)] ? "sliding_attention" : "full_attention");
    sparsity.push_back(t.activation_sparsity[size_t(i)]);
  }
  tc["num_hidden_layers"] = int64_t(kept.size());
  tc["intermediate_size"] = width;
  tc["layer_types"] = types;
  tc["activation_sparsity_pattern"] = sparsity;
  tc["num_kv_shared_layers"] = shared_kept;
  fs::create_directories(out_dir);
  std::ofstream(fs::path(out_dir) / "config.json") << j.dump(2) << "\n";
  hf_copy_side_files(in_dir, out_dir, {"config.json"});

  // Weights: dropped layers go, kept layers are renumbered, MLPs sliced, PLE tables narrowed.
  const SafetensorsIndex ckpt = SafetensorsIndex::open(in_dir);
  const std::string T = "model.language_model.";
  const std::regex layer_re("^model\\.language_model\\.layers\\.(\\d+)\\.(.*)$");
  std::vector<int64_t> new_index(size_t(L), -1);
  for (size_t k = 0; k < kept.size(); ++k) new_index[size_t(kept[k])] = int64_t(k);
  const at::Tensor kept_t = at::tensor(kept, at::kLong);
  const int64_t P = t.hidden_size_per_layer_input;
  HfShardedWriter writer(out_dir, max_shard_bytes);
  for (const std::string& name : ckpt.names()) {
    at::Tensor w = read(ckpt, name);
    rep.bytes_in += w.numel() * w.element_size();
    std::string out_name = name;
    std::smatch m;
    if (std::regex_match(name, m, layer_re)) {
      const int64_t i = std::stoll(m[1].str());
      if (new_index[size_t(i)] < 0) continue;
      const int64_t I = width[size_t(new_index[size_t(i)])];
      const std::string rest = m[2].str();
      out_name = T + "layers." + std::to_string(new_index[size_t(i)]) + "." + rest;
      if (rest == "mlp.gate_proj.weight" || rest == "mlp.up_proj.weight") w = w.narrow(0, 0, I);
      if (rest == "mlp.down_proj.weight") w = w.narrow(1, 0, I);
    } else if (name == T + "embed_tokens_per_layer.weight") {
      w = w.view({w.size(0), L, P}).index_select(1, kept_t).reshape({w.size(0), -1});
    } else if (name == T + "per_layer_model_projection.weight") {
      w = w.view({L, P, w.size(1)}).index_select(0, kept_t).reshape({-1, w.size(1)});
    }
    w = w.contiguous().clone();
    rep.bytes_out += w.numel() * w.element_size();
    writer.add(out_name, w);
  }
  writer.finish();
  rep.layers_out = int64_t(kept.size());
  return rep;
}

}  // namespace omnitune
