// A multi-rank GoogleTest binary that fails on purpose on the last rank only, as export_test once
// did on a missing fixture: that rank leaves the test early and the next test starts with a
// collective (MPI_Comm_dup) while the other ranks still wait in this test's barrier. Without
// mpi_test_main's abort-on-failure this hangs until ctest's timeout; with it the job must end in
// seconds with the failing rank's message (registered through expect_failure.sh, never run alone).
#include <gtest/gtest.h>
#include <mpi.h>

namespace {

int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

TEST(RankFailure, LastRankFailsAnAssertion) {
  ASSERT_NE(rank(), size() - 1) << "deliberate failure on the last rank";
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(RankFailure, NextTestStartsWithACollective) {
  MPI_Comm dup;
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  MPI_Barrier(dup);
  MPI_Comm_free(&dup);
}

}  // namespace
