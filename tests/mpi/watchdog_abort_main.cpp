// A job where one rank never joins a collective: rank 0 enters an all-reduce, the others sleep.
// The watchdog must end the whole job with a message naming the op, group and rank, in seconds.
// Run by tests/mpi/expect_failure.sh, which checks the exit code, the message and the time.
#include <unistd.h>

#include "dist/mpi_comm.h"
#include "dist/runtime.h"
#include "dist/watchdog.h"

using namespace omnitune;

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime& rt, int, char**) {
    Watchdog::instance().set_timeout(2.0);
    auto world = MpiComm::world();
    if (rt.topology().world_rank == 0) {
      at::Tensor t = at::ones({16});
      world->all_reduce(t);  // never completes: the other ranks are not there
    } else {
      sleep(120);  // the "missing" rank; MPI_Abort from rank 0 ends it
    }
    return 0;
  });
}
