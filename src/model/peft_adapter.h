// Hugging Face PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors) for inference:
// the model is built with LoRA layers exactly where the adapter's target_modules say, the base
// weights come from the base checkpoint and the adapter weights from the adapter directory (keys
// "base_model.model.<module>.lora_A.weight"). omnitune-export writes this format; adapters made
// by PEFT load too (string target_modules = a regex full-matched against module names; a list =
// module names or name suffixes).
#pragma once

#include <string>
#include <vector>

#include "nn/linear.h"
#include "nn/lora.h"
#include "nn/params.h"

namespace omnitune {

struct PeftAdapter {
  std::string dir;
  LoraOptions lora;
  std::string target_regex;               // when target_modules is a string
  std::vector<std::string> target_names;  // when it is a list
  bool matches(const std::string& module) const;
};

PeftAdapter peft_adapter_load(const std::string& dir);

// `inner` wrapped with LoRA on the adapter's target modules.
LinearFactory peft_adapter_factory(const PeftAdapter& a, LinearFactory inner);

// Fills the LoRA parameters of `params` (others are ignored) from the adapter's safetensors.
// Every adapter tensor must be used and every LoRA parameter found: errors list the differences.
void peft_adapter_load_weights(const PeftAdapter& a, ParamList& params, at::ScalarType dtype);

}  // namespace omnitune
