#include "train/export.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "nn/lora.h"
#include "nn/hf_writer.h"
#include "nn/tensor_io.h"
#include "train/peft.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

std::string regex_escape(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

std::string module_of(const std::string& param) {
  for (const char* s : {".lora_A.weight", ".lora_B.weight", ".weight", ".bias"}) {
    const std::string suf = s;
    if (param.size() > suf.size() && param.compare(param.size() - suf.size(), suf.size(), suf) == 0)
      return param.substr(0, param.size() - suf.size());
  }
  return param;
}

}  // namespace

void export_model(ShardedEngine& engine, const TrainSettings& t, const ExportOptions& opt, const std::string& out_dir,
                  Comm& world) {
  const bool root = world.rank() == 0;
  const bool lora = t.peft.method == "lora";
  OT_REQUIRE(opt.format == "hf" || opt.format == "peft" || opt.format == "merged", "unknown export format '",
             opt.format, "': use hf, peft or merged");
  OT_REQUIRE(lora || opt.format == "hf", "export format ", opt.format, " needs a LoRA run (peft.method=lora)");
  const fs::path final_dir(out_dir), tmp = fs::path(out_dir + ".tmp-export");
  if (root) {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  world.barrier();

  const double scale = t.peft.lora.alpha / static_cast<double>(t.peft.lora.rank);
  if (opt.format == "peft") {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    std::vector<std::string> modules;
    engine.for_each_full_param(true, [&](const std::string& name, const at::Tensor& full) {
      if (!root || !is_lora_param(name)) return;
      tensors.emplace_back("base_model.model." + name, full.to(opt.dtype));
      if (name.find(".lora_A.") != std::string::npos) modules.push_back(module_of(name));
    });
    if (root) {
      safetensors_write((tmp / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
      std::string pattern;
      for (const auto& m : modules) pattern += (pattern.empty() ? "" : "|") + regex_escape(m);
      nlohmann::json c = {{"peft_type", "LORA"},
                          {"task_type", "CAUSAL_LM"},
                          {"r", t.peft.lora.rank},
                          {"lora_alpha", t.peft.lora.alpha},
                          {"lora_dropout", t.peft.lora.dropout},
                          {"bias", "none"},
                          {"fan_in_fan_out", false},
                          {"inference_mode", true},
                          {"use_rslora", false},
                          {"base_model_name_or_path", fs::absolute(t.model_path).string()},
                          // PEFT full-matches a string target_modules against each module name.
                          {"target_modules", "(" + pattern + ")"}};
      std::ofstream(tmp / "adapter_config.json") << c.dump(2) << "\n";
    }
  } else {
    // Full weights. Merged: the adapters (small) are collected first, then folded into their base
    // weight as it streams by.
    HfShardedWriter writer(tmp, opt.max_shard_bytes);
    std::map<std::string, at::Tensor> lora_a, lora_b;
    if (opt.format == "merged")
      engine.for_each_full_param(true, [&](const std::string& name, const at::Tensor& full) {
        if (!root || !is_lora_param(name)) return;
        (name.find(".lora_A.") != std::string::npos ? lora_a : lora_b)[module_of(name)] = full;
      });
    engine.for_each_full_param(false, [&](const std::string& name, const at::Tensor& full) {
      if (!root || is_lora_param(name)) return;
      const std::string m = module_of(name);
      const bool merge = opt.format == "merged" && lora_a.count(m) && name == m + ".weight";
      at::Tensor w = merge ? full + scale * at::matmul(lora_b.at(m), lora_a.at(m)) : full;
      writer.add(name, w.to(at::kCPU, opt.dtype).contiguous());
    });
    if (root) writer.finish();
  }
  if (root) {
    hf_copy_side_files(t.model_path, tmp);
    if (opt.format == "peft") fs::remove(tmp / "config.json");  // an adapter directory holds no model config
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    OT_LOG_INFO("exported ", opt.format, " to ", final_dir.string());
  }
  world.barrier();
}

}  // namespace omnitune
