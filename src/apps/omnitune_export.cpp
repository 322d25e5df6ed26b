// omnitune-export: a training checkpoint to Hugging Face formats.
//   omnitune-export --checkpoint RUN_DIR/checkpoints[/epoch_E_step_S] --out DIR [--format hf|peft|merged]
//                   [--dtype bfloat16|float32]
// The run's resolved config comes from the checkpoint itself (meta.json), so the model path, LoRA
// settings and freeze flags are exactly those of training. Runs on any number of ranks.
//
//   omnitune-export --model GEMMA3N_DIR --submodel e2b|"ffn=W[,W...];skip=i[,i...]" --out DIR
// slices a Gemma 3n checkpoint into a MatFormer sub-model (model/gemma3n_submodel.h; one rank).
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/cli.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/device_mesh.h"
#include "dist/dist_config.h"
#include "dist/mpi_comm.h"
#include "dist/runtime.h"
#include "model/gemma3n_submodel.h"
#include "train/checkpoint.h"
#include "train/export.h"
#include "train/train_model.h"

using namespace omnitune;
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: omnitune-export --checkpoint PATH --out DIR [--format hf|peft|merged] [--dtype bfloat16|float32] [--overwrite]\n"
    "       omnitune-export --model GEMMA3N_DIR --submodel e2b|\"ffn=W[,W...];skip=i[,i...]\" --out DIR [--overwrite]\n"
    "\n"
    "Writes a training checkpoint in Hugging Face formats, on any number of ranks; the run's config\n"
    "comes from the checkpoint itself. Or slices a Gemma 3n checkpoint into a MatFormer sub-model.\n"
    "\n"
    "  --checkpoint PATH  RUN_DIR/checkpoints (its LATEST) or one checkpoint folder\n"
    "  --out DIR          the directory to write; one that exists and is not empty is refused\n"
    "                     unless --overwrite (never the run's base model)\n"
    "  --overwrite        replace an existing --out directory\n"
    "  --format F         hf (full model), peft (LoRA adapter; default for LoRA runs) or merged\n"
    "                     (LoRA folded into the base weights)\n"
    "  --dtype D          bfloat16 (default) or float32\n"
    "  --model DIR        with --submodel: the Gemma 3n model directory to slice\n"
    "  --submodel SPEC    e2b, or ffn= widths and skip= layers (docs/models.md)\n"
    "  -h, --help         print this help and exit\n";

int main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::printf("%s", kUsage);
    return 0;
  }
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    std::string ckpt, out, format, dtype = "bfloat16", model, submodel;
    bool overwrite = false;
    for (int i = 1; i < ac; ++i) {
      const std::string f = av[i];
      if (f == "--overwrite") {
        overwrite = true;
        continue;
      }
      OT_REQUIRE(i + 1 < ac, "option ", f, " needs a value");
      const std::string v = av[++i];
      if (f == "--checkpoint") ckpt = v;
      else if (f == "--out") out = v;
      else if (f == "--format") format = v;
      else if (f == "--dtype") dtype = v;
      else if (f == "--model") model = v;
      else if (f == "--submodel") submodel = v;
      else OT_FAIL("unknown option ", f, "; usage: omnitune-export --checkpoint PATH --out DIR [--format hf|peft|merged] [--dtype bfloat16|float32]"
                   " | --model DIR --submodel SPEC --out DIR");
    }
    // Nothing a user made is replaced unless asked: an existing, non-empty --out needs --overwrite.
    std::error_code ec;
    OT_REQUIRE(out.empty() || overwrite || !fs::exists(out) || (fs::is_directory(out) && fs::is_empty(out, ec)), "--out ",
               out, " exists and is not empty: choose a new directory, or pass --overwrite to replace it");
    if (!submodel.empty()) {
      OT_REQUIRE(!model.empty() && !out.empty(), "usage: omnitune-export --model DIR --submodel e2b|SPEC --out DIR");
      OT_REQUIRE(rt.topology().world_size == 1, "--submodel runs on one rank");
      const Gemma3nSubmodelReport r =
          gemma3n_extract_submodel(model, out, gemma3n_submodel_spec_parse(submodel), int64_t(5) << 30);
      OT_LOG_INFO("sub-model ", submodel, ": ", r.layers_in, " -> ", r.layers_out, " layers, ", r.bytes_in / 1e6, " -> ",
                  r.bytes_out / 1e6, " MB of weights, written to ", out);
      return 0;
    }
    OT_REQUIRE(!ckpt.empty() && !out.empty(), "usage: omnitune-export --checkpoint PATH --out DIR [--format hf|peft|merged]");
    const std::string dir = checkpoint_resolve("", ckpt);
    const nlohmann::json meta = nlohmann::json::parse(std::ifstream(fs::path(dir) / "meta.json"));
    // The training config, re-validated against this build's schema.
    ConfigSchema schema;
    register_core_config(schema);
    register_dist_config(schema);
    register_train_sections(schema);
    // Config::load reads a file: each rank writes the checkpoint's config to its own temporary file
    // (node-local; nothing is left beside --out) and removes it once loaded.
    const fs::path cfg_file = fs::temp_directory_path() /
                              ("omnitune-export-" + std::to_string(::getpid()) + "-" + std::to_string(rt.topology().world_rank) + ".yaml");
    std::ofstream(cfg_file) << meta.at("config_yaml").get<std::string>();
    // The export runs on this job's ranks, on the host over MPI (a CPU node will do): plain data
    // parallelism, whatever the training mesh and device were.
    Config cfg = [&] {
      struct Remove {
        fs::path p;
        ~Remove() { std::error_code ec; fs::remove(p, ec); }
      } remove{cfg_file};
      return Config::load(schema, cfg_file.string(), {"distributed.dp=-1", "distributed.tp=1", "distributed.dp_replicate=1"});
    }();
    TrainSettings t = train_settings_from(cfg);
    // Never write over the model the run was trained from (merged or hf exports would replace it).
    std::error_code ec1, ec2;
    const fs::path out_c = fs::weakly_canonical(out, ec1), base_c = fs::weakly_canonical(t.model_path, ec2);
    OT_REQUIRE(ec1 || ec2 || out_c != base_c, "--out ", out, " is the run's base model (model.path ", t.model_path,
               "): exporting there would replace it; choose another directory");
    if (format.empty()) format = t.peft.method == "lora" ? "peft" : "hf";
    auto world = MpiComm::world();
    DeviceMesh mesh(*world, rt.topology(), -1, 1);
    TrainModel tm = build_train_model(t, mesh, at::Device(at::kCPU));
    std::vector<FlatGroup*> groups;
    for (auto& u : tm.engine->units())
      if (u->trainable()) groups.push_back(u->trainable());
    ShardedAdamW opt(groups, tm.engine->comms(), t.adamw);
    checkpoint_load(dir, *tm.engine, opt, *world, true);
    ExportOptions eo;
    eo.format = format;
    OT_REQUIRE(dtype == "bfloat16" || dtype == "float32", "--dtype must be bfloat16 or float32");
    eo.dtype = dtype == "float32" ? at::kFloat : at::kBFloat16;
    export_model(*tm.engine, t, eo, out, *world);
    return 0;
  });
}
