// Errors: one exception type for user-facing problems (bad config, bad file, bad launch) whose
// message names the thing, the place and the fix, and check macros for invariants and library
// calls that report file:line. Apps catch Error at the top and print only its message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace omnitune {

// A problem the user can fix. The message is printed as-is, without a stack of internals.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// An invariant or library call failed: a bug or an environment problem, reported with file:line.
class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& msg) : std::runtime_error(msg) {}
};

// Concatenates any streamable arguments into a string; used by the macros below and for messages.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (void)(os << ... << args);
  return os.str();
}

namespace detail {
using ::omnitune::str_cat;  // older spelling, kept for code that names it so
}  // namespace detail

}  // namespace omnitune

// Throws omnitune::Error built from the streamed arguments.
#define OT_FAIL(...) throw ::omnitune::Error(::omnitune::str_cat(__VA_ARGS__))

// User-facing check: throws omnitune::Error with the message when cond is false.
#define OT_REQUIRE(cond, ...)         \
  do {                                \
    if (!(cond)) OT_FAIL(__VA_ARGS__); \
  } while (0)

// Invariant check: throws InternalError naming file:line and the failed condition.
#define OT_CHECK(cond, ...)                                                              \
  do {                                                                                   \
    if (!(cond))                                                                         \
      throw ::omnitune::InternalError(::omnitune::str_cat(                       \
          __FILE__, ":", __LINE__, ": check failed: " #cond " ", ##__VA_ARGS__));        \
  } while (0)
