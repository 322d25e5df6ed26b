// MPI runtime and the fatal path. The fatal path writes with plain stdio and ends the job at
// once: a rank that throws must not leave the others waiting in a collective until the
// scheduler's time limit.
#include "dist/runtime.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/log.h"
#include "dist/mpi_check.h"

namespace omnitune {
namespace {

std::string g_program = "omnitune";
int g_rank = -1;
std::string g_host = "?";
std::atomic<bool> g_aborting{false};

bool mpi_running() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}

// A process started without an MPI launcher (no mpirun / srun / hydra rank variables) is a world
// of one. Open MPI 4 would still start a helper daemon for it and probe every network transport
// (UCX alone: ~0.2 s on the build machine) for peers it cannot have; ask it not to. Parameters
// the user set win (setenv without overwrite); other MPIs ignore OMPI_MCA_ variables.
void prefer_light_singleton_init() {
  for (const char* launched : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(launched) != nullptr) return;
  setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  setenv("OMPI_MCA_pml", "ob1", 0);
}

}  // namespace

void set_program_name(const std::string& name) {
  auto slash = name.find_last_of('/');
  g_program = slash == std::string::npos ? name : name.substr(slash + 1);
}

std::string exception_message(const std::exception& e) {
  std::string m = e.what();
  // LibTorch appends "Exception raised from ... (most recent call first):" and a backtrace.
  for (const char* marker : {"\nException raised from", "\nframe #0"}) {
    auto pos = m.find(marker);
    if (pos != std::string::npos) m = m.substr(0, pos);
  }
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

[[noreturn]] void fatal_abort(const std::string& what) {
  // Only the first fatal error speaks; a second thread failing meanwhile just waits for the end.
  bool expected = false;
  if (!g_aborting.compare_exchange_strong(expected, true)) {
    for (;;) pause();
  }
  if (g_rank >= 0) {
    std::fprintf(stderr, "%s: error on rank %d (%s): %s\n", g_program.c_str(), g_rank,
                 g_host.c_str(), what.c_str());
  } else {
    std::fprintf(stderr, "%s: error: %s\n", g_program.c_str(), what.c_str());
  }
  std::fflush(stderr);
  std::fflush(stdout);
  log_close();
  if (mpi_running()) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::_Exit(1);
}

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  prefer_light_singleton_init();
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_));
  topo_ = topology_from_mpi(MPI_COMM_WORLD);
  g_rank = topo_.world_rank;
  g_host = topo_.host;
  // Default logging until the app reads its config: rank 0 on the console.
  log_init(topo_.world_rank, topo_.host, LogLevel::Info, topo_.world_rank == 0);
  // Stop-signal handlers are installed only by the programs that poll them (omnitune-train and
  // omnitune-generate, first thing in main): everywhere else Ctrl-C and SIGTERM end the process
  // at once, as users expect (the preprocessor's shards are renamed into place, so nothing
  // half-written survives, and a rerun resumes).
}

MpiRuntime::~MpiRuntime() {
  log_close();
  if (mpi_running()) MPI_Finalize();
}

void MpiRuntime::check_slurm(const std::string& policy) const {
  if (policy == "off") return;
  auto env = [](const char* name) { return std::getenv(name); };
  if (slurm_singleton_launch(topo_, env)) {
    OT_FAIL("SLURM started ", std::getenv("SLURM_NTASKS"),
            " tasks but MPI sees a world of 1: the tasks were launched without an MPI process "
            "manager, so every one would act as rank 0. Launch with `srun --mpi=pmix` (or "
            "--mpi=pmi2 where PMIx is missing; `srun --mpi=list` shows what the cluster has).");
  }
  auto mismatches = slurm_mismatches(topo_, env);
  if (mismatches.empty()) return;
  std::string joined;
  for (const auto& m : mismatches) joined += (joined.empty() ? "" : "; ") + m;
  std::string msg = "SLURM and MPI disagree about this rank: " + joined +
                    ". Check the srun --mpi plugin and that one task is started per rank.";
  if (policy == "error") OT_FAIL(msg, " (distributed.slurm_check=error)");
  OT_LOG_WARN(msg);
}

int run_main(int argc, char** argv, const std::function<int(MpiRuntime&, int, char**)>& body) {
  if (argc > 0) set_program_name(argv[0]);
  try {
    MpiRuntime rt(&argc, &argv);
    try {
      return body(rt, argc, argv);
    } catch (const Error& e) {
      fatal_abort(e.what());
    } catch (const std::exception& e) {
      fatal_abort(exception_message(e));
    }
  } catch (const std::exception& e) {
    fatal_abort(exception_message(e));
  }
}

}  // namespace omnitune
