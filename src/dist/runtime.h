// The MPI runtime of every omnitune executable: RAII MPI init/finalize, this rank's topology,
// and the fatal path (stop-signal handlers: dist/stop_signal.h, installed by the programs that
// poll them). A fatal error on any rank prints one clear line
// (rank, host, what failed) and aborts the whole job with MPI_Abort instead of leaving the other
// ranks hanging in their next collective.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>

#include "dist/topology.h"

namespace omnitune {

class MpiRuntime {
 public:
  // MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the watchdog may abort from its own thread;
  // prefetch threads issue collectives). Computes the topology. A process started without an MPI
  // launcher skips Open MPI's singleton daemon and transport probing (runtime.cpp).
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();  // MPI_Finalize
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  const Topology& topology() const { return topo_; }
  MPI_Comm world() const { return MPI_COMM_WORLD; }
  int thread_level() const { return thread_level_; }  // what MPI granted
  bool is_root() const { return topo_.world_rank == 0; }

  // Runs the SLURM cross-check. policy: "warn" logs mismatches, "error" makes them fatal, "off"
  // skips. A singleton launch under a multi-task SLURM step is always an error.
  void check_slurm(const std::string& policy) const;

 private:
  Topology topo_;
  int thread_level_ = 0;
};

// Prints "<program>: error on rank R (host): <what>" to stderr and ends the whole job:
// MPI_Abort when MPI is running, exit(1) otherwise. Safe to call from any thread.
[[noreturn]] void fatal_abort(const std::string& what);

// The program name used in fatal messages (set by run_main from argv[0]).
void set_program_name(const std::string& name);

// Runs `body` inside an MpiRuntime. Any exception escaping it (omnitune::Error, internal errors,
// LibTorch errors) goes through fatal_abort with a one-line message; the return value of body is
// the exit code. Every executable's main() is `return run_main(argc, argv, body);`.
int run_main(int argc, char** argv, const std::function<int(MpiRuntime&, int, char**)>& body);

// Extracts the message of an exception without LibTorch's backtrace (first block of what()).
std::string exception_message(const std::exception& e);

}  // namespace omnitune
