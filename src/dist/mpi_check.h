// MPI_CHECK: every MPI call's return code is checked; a failure names the call and file:line
// (the default MPI error handler aborts, but communicators we create use MPI_ERRORS_RETURN only
// where we ask for it, so this mainly documents intent and catches misuse).
#pragma once

#include <mpi.h>

#include "core/error.h"

namespace omnitune {
// Returns MPI's text for an error code.
inline std::string mpi_error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, len);
}

// Rank and size of a communicator (MPI_CHECKed), for member-initialiser lists.
int mpi_comm_rank(MPI_Comm c);
int mpi_comm_size(MPI_Comm c);
}  // namespace omnitune

#define MPI_CHECK(call)                                                                  \
  do {                                                                                   \
    int mpi_check_rc_ = (call);                                                          \
    if (mpi_check_rc_ != MPI_SUCCESS)                                                    \
      throw ::omnitune::InternalError(::omnitune::str_cat(                       \
          __FILE__, ":", __LINE__, ": ", #call, " failed: ",                             \
          ::omnitune::mpi_error_string(mpi_check_rc_)));                                 \
  } while (0)
