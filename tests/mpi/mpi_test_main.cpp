// main() for multi-rank GoogleTest binaries: every rank runs every test; rank 0 prints the usual
// report, other ranks print only their failures (prefixed with the rank); the exit code is
// non-zero when any rank failed, so mpirun and ctest see it.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "dist/runtime.h"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return omnitune::run_main(argc, argv, [](omnitune::MpiRuntime& rt, int, char**) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    if (!rt.is_root()) {
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(rt.topology().world_rank));
    }
    int rc = RUN_ALL_TESTS();
    int any = 0;
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rt.is_root() && any != 0 && rc == 0)
      std::fprintf(stderr, "rank 0 passed, but another rank failed (see [rank N] lines)\n");
    return any;
  });
}
