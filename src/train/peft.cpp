#include "train/peft.h"

#include "nn/lora.h"

namespace omnitune {

bool glob_match(const std::string& p, const std::string& t) {
  // Iterative matcher with single-star backtracking (linear for typical patterns).
  size_t i = 0, j = 0, star = std::string::npos, mark = 0;
  while (j < t.size()) {
    if (i < p.size() && (p[i] == '?' || p[i] == t[j])) {
      ++i;
      ++j;
    } else if (i < p.size() && p[i] == '*') {
      star = i++;
      mark = j;
    } else if (star != std::string::npos) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.size() && p[i] == '*') ++i;
  return i == p.size();
}

namespace {

bool any_match(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (glob_match(p, name)) return true;
  return false;
}

bool in_vision(const std::string& n) {
  return n.find("vision_tower") != std::string::npos;
}

}  // namespace

std::function<bool(const std::string&)> lora_target_rule(const PeftSettings& peft) {
  return [peft](const std::string& module) {
    if (peft.method != "lora" || any_match(peft.exclude, module)) return false;
    if (peft.match_all_linear) return true;
    return any_match(peft.include, module);
  };
}

std::function<bool(const std::string&)> trainable_param_rule(const TrainSettings& t) {
  if (t.peft.method == "lora") return [](const std::string& p) { return is_lora_param(p); };
  const FreezeSettings f = t.freeze;
  return [f](const std::string& p) {
    if (p.find("embed_tokens") != std::string::npos) return !f.embeddings;
    if (in_vision(p)) return !f.vision_tower;
    if (p.find("audio_tower") != std::string::npos) return !f.audio_tower;
    if (p.find("multi_modal_projector") != std::string::npos || p.find("embed_vision") != std::string::npos ||
        p.find("embed_audio") != std::string::npos)
      return true;  // projectors / Gemma 3n embedders train unless everything is LoRA
    return !f.language_model;
  };
}

}  // namespace omnitune
