// Shared start-up. Every rank parses and validates the config itself (a bad key fails on every
// rank at once, before any collective); only rank 0 prints.
#include "apps/app_startup.h"

#include <ATen/Parallel.h>

#include <cstdio>

#include "core/cli.h"
#include "core/log.h"
#include "dist/watchdog.h"

namespace omnitune {

std::optional<AppContext> app_startup(MpiRuntime& rt, int argc, char** argv,
                                      const std::string& summary,
                                      const std::function<void(ConfigSchema&)>& register_sections) {
  const bool root = rt.is_root();
  CliArgs args = parse_cli(argc, argv);
  ConfigSchema schema;
  register_core_config(schema);
  register_dist_config(schema);
  if (register_sections) register_sections(schema);

  std::string program = argc > 0 ? argv[0] : "omnitune";
  if (auto slash = program.find_last_of('/'); slash != std::string::npos)
    program = program.substr(slash + 1);
  if (args.help) {
    if (root) std::printf("%s", cli_usage(program, summary).c_str());
    return std::nullopt;
  }
  if (args.help_config) {
    if (root) std::printf("%s", schema.help_table().c_str());
    return std::nullopt;
  }
  Config cfg = Config::load(schema, args.config_file, args.overrides);
  if (args.print_config) {
    if (root) std::printf("%s", cfg.to_yaml().c_str());
    return std::nullopt;
  }

  const Topology& topo = rt.topology();
  log_init(topo.world_rank, topo.host, log_level_from_string(cfg.get_string("logging.level")),
           root, cfg.get_bool("logging.rank_files") ? cfg.get_string("logging.dir") : "");
  AppContext ctx{std::move(cfg), {}, {}, nullptr};
  ctx.dist = dist_settings_from(ctx.config);
  rt.check_slurm(ctx.dist.slurm_check);
  Watchdog::instance().set_timeout(ctx.dist.collective_timeout_s);
  ctx.device = choose_device(topo, ctx.dist.device, ctx.dist.cpu_threads);
  ctx.world = make_world_comm(ctx.dist.backend, ctx.device.device);
  OT_LOG_INFO(program, ": ", topo.world_size, " rank(s) on ", topo.num_nodes, " node(s); rank 0 on ",
              ctx.device.reason, ", ", at::get_num_threads(), " CPU thread(s) per rank, ",
              ctx.world->backend(), " backend");
  return ctx;
}

}  // namespace omnitune
