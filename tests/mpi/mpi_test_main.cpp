// main() for multi-rank GoogleTest binaries: every rank runs every test; rank 0 prints the usual
// report, other ranks print only their failures (prefixed with the rank); the exit code is
// non-zero when any rank failed, so mpirun and ctest see it.
//
// A failure on any rank ends the whole job at once (MPI_Abort after printing it): a rank that
// failed an assertion leaves its test early and would enter the next test's collectives while the
// others still wait in this one's, a hang until ctest's timeout. OMNITUNE_TEST_KEEP_GOING=1 turns
// this off (every test runs, as plain GoogleTest; only safe when failures are symmetric).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

// Appended after the printers, so the failure is on screen before the job goes down.
class AbortOnFailure : public ::testing::EmptyTestEventListener {
 public:
  explicit AbortOnFailure(int rank) : rank_(rank) {}
  // The test's name is kept here: UnitTest::current_test_info() takes the lock GoogleTest holds
  // while it reports a result (a deadlock if called from OnTestPartResult).
  void OnTestStart(const ::testing::TestInfo& t) override {
    test_ = std::string(t.test_suite_name()) + "." + t.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s failed: aborting the job (the other ranks may be waiting in a collective)\n",
                 rank_, test_.empty() ? "(outside a test)" : test_.c_str());
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

 private:
  int rank_;
  std::string test_;
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
    const char* keep_going = std::getenv("OMNITUNE_TEST_KEEP_GOING");
    if (!(keep_going && std::strcmp(keep_going, "1") == 0))
      listeners.Append(new AbortOnFailure(rt.topology().world_rank));
    int rc = RUN_ALL_TESTS();
    int any = 0;
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rt.is_root() && any != 0 && rc == 0)
      std::fprintf(stderr, "rank 0 passed, but another rank failed (see [rank N] lines)\n");
    return any;
  });
}
