// A job where the last rank throws a user error while the others wait in a barrier. run_main
// must print one clear line naming the rank and abort the whole job quickly (not wait for the
// watchdog, whose timeout is set far beyond the test's time bound).
#include "core/error.h"
#include "dist/mpi_comm.h"
#include "dist/runtime.h"
#include "dist/watchdog.h"

using namespace omnitune;

int main(int argc, char** argv) {
  return run_main(argc, argv, [](MpiRuntime& rt, int, char**) {
    Watchdog::instance().set_timeout(600);
    auto world = MpiComm::world();
    if (rt.topology().world_rank == rt.topology().world_size - 1) {
      OT_FAIL("deliberate failure in the rank-throw test (config key 'x.y' is wrong)");
    }
    world->barrier();
    return 0;
  });
}
