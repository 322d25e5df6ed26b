// Logging: one format for every rank ("[time] [r<rank>/<host>] LEVEL message"). Rank 0 prints to
// the console (stderr, keeping stdout for a tool's results); every rank may also append to its own
// file (<dir>/rank<N>.log). Warnings and errors from any rank reach stderr so a failing rank is
// never silent.
#pragma once

#include <string>

#include "core/error.h"

namespace omnitune {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// Parses "debug" / "info" / "warn" / "error"; throws Error on anything else.
LogLevel log_level_from_string(const std::string& s);

// Sets this process's identity and sinks. console: whether info/debug go to stdout (rank 0 only
// by default). file_dir: if non-empty, also append every line to file_dir/rank<rank>.log.
void log_init(int rank, const std::string& host, LogLevel level, bool console,
              const std::string& file_dir = "");

// Closes the per-rank file if one is open.
void log_close();

void log_write(LogLevel level, const std::string& msg);

// Formats "[time] [r<rank>/<host>] LEVEL msg" (exposed for tests and the fatal path).
std::string log_format(LogLevel level, const std::string& msg);

}  // namespace omnitune

#define OT_LOG_DEBUG(...) ::omnitune::log_write(::omnitune::LogLevel::Debug, ::omnitune::str_cat(__VA_ARGS__))
#define OT_LOG_INFO(...) ::omnitune::log_write(::omnitune::LogLevel::Info, ::omnitune::str_cat(__VA_ARGS__))
#define OT_LOG_WARN(...) ::omnitune::log_write(::omnitune::LogLevel::Warn, ::omnitune::str_cat(__VA_ARGS__))
#define OT_LOG_ERROR(...) ::omnitune::log_write(::omnitune::LogLevel::Error, ::omnitune::str_cat(__VA_ARGS__))
