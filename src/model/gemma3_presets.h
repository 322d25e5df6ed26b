// Built-in Gemma 3 configurations (config.json text): the real 4B and 1B shapes (gemma-spec A.1,
// B.1) for memory and speed benchmarks, and tiny ones for tests and the quickstart.
#pragma once

#include <string>
#include <vector>

namespace omnitune {

// The config.json of preset 4b, 1b, bench-1024, tiny or tiny-vlm; an Error names the choices.
std::string gemma3_preset_config_json(const std::string& preset);

}  // namespace omnitune
