// The start-up every omnitune executable shares: command line -> config (with --help,
// --help-config, --print-config handled here), logging, SLURM cross-check, watchdog timeout,
// device and world communicator. Each app adds its own schema sections before calling it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/config_schema.h"
#include "dist/comm.h"
#include "dist/device.h"
#include "dist/dist_config.h"
#include "dist/runtime.h"

namespace omnitune {

struct AppContext {
  Config config;
  DistSettings dist;
  DeviceChoice device;
  std::unique_ptr<Comm> world;
};

// Returns nothing when the command line only asked for help or a config print (already printed
// by rank 0): the caller exits 0. `register_sections` adds the app's own schema keys.
std::optional<AppContext> app_startup(MpiRuntime& rt, int argc, char** argv,
                                      const std::string& summary,
                                      const std::function<void(ConfigSchema&)>& register_sections);

}  // namespace omnitune
