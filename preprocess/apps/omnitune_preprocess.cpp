// omnitune-preprocess: a raw dataset split -> HDF5 shards + manifest.json + rejects.jsonl, on CPU
// nodes, MPI ranks splitting the shards (no LibTorch in this binary).
//   mpirun -np 4 omnitune-preprocess --config configs/preprocess_medpix.yaml
//       --preprocess.input data/medpix/train.parquet --preprocess.split train
#include <malloc.h>

#include <cstdio>

#include "core/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "dist/runtime.h"
#include "pipeline/preprocess.h"

using namespace omnitune;

int main(int argc, char** argv) {
  // Keep freed pixel buffers (up to 1 GB) for the next shard instead of returning them to the
  // kernel: every wave allocates a shard's worth of images again, and fresh pages cost more than
  // reuse (MedPix bench set: ~6% of the run).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    CliArgs args = parse_cli(ac, av);
    ConfigSchema schema;
    register_core_config(schema);
    register_preprocess_config(schema);
    if (args.help) {
      if (rt.is_root())
        std::printf("%s", cli_usage("omnitune-preprocess",
                                    "Turns a raw dataset split (MedPix-VQA Parquet, JSONL) into HDF5 shards "
                                    "for training and generation.").c_str());
      return 0;
    }
    if (args.help_config) {
      if (rt.is_root()) std::printf("%s", schema.help_table().c_str());
      return 0;
    }
    Config cfg = Config::load(schema, args.config_file, args.overrides);
    if (args.print_config) {
      if (rt.is_root()) std::printf("%s", cfg.to_yaml().c_str());
      return 0;
    }
    const Topology& t = rt.topology();
    log_init(t.world_rank, t.host, log_level_from_string(cfg.get_string("logging.level")), rt.is_root(),
             cfg.get_bool("logging.rank_files") ? cfg.get_string("logging.dir") : "");
    rt.check_slurm("warn");
    PreprocessSummary sum = preprocess_run(preprocess_settings_from(cfg), cfg, rt.world());
    if (rt.is_root())
      std::printf("%lld samples, %lld rejected, %lld shards -> %s\n", static_cast<long long>(sum.samples),
                  static_cast<long long>(sum.rejected), static_cast<long long>(sum.shards), sum.manifest.c_str());
    return 0;
  });
}
