// Which parameters train: the LoRA target rule (PEFT/NeMo semantics: glob patterns on HF module
// names, match_all_linear, exclusions) and the freeze flags, as functions of parameter names.
#pragma once

#include <functional>
#include <string>

#include "train/train_config.h"

namespace omnitune {

// fnmatch-style: '*' any run of characters (dots included), '?' one character.
bool glob_match(const std::string& pattern, const std::string& text);

// Module-name predicate: which linear layers get a LoRA adapter.
std::function<bool(const std::string& module)> lora_target_rule(const PeftSettings& peft);

// Parameter-name predicate: LoRA -> adapters only; SFT -> everything not frozen by freeze_config.
std::function<bool(const std::string& param)> trainable_param_rule(const TrainSettings& t);

}  // namespace omnitune
