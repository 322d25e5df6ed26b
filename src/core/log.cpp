// Logging implementation: a mutex-guarded sink so lines from helper threads (prefetchers,
// the watchdog) never interleave mid-line.
#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>

namespace omnitune {
namespace {

struct LogState {
  std::mutex mu;
  int rank = 0;
  std::string host = "localhost";
  LogLevel level = LogLevel::Info;
  bool console = true;
  FILE* file = nullptr;
};

LogState& state() {
  static LogState s;
  return s;
}

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return "DEBUG";
    case LogLevel::Info: return "INFO";
    case LogLevel::Warn: return "WARN";
    case LogLevel::Error: return "ERROR";
  }
  return "?";
}

}  // namespace

LogLevel log_level_from_string(const std::string& s) {
  if (s == "debug") return LogLevel::Debug;
  if (s == "info") return LogLevel::Info;
  if (s == "warn" || s == "warning") return LogLevel::Warn;
  if (s == "error") return LogLevel::Error;
  OT_FAIL("unknown log level '", s, "': use debug, info, warn or error");
}

void log_init(int rank, const std::string& host, LogLevel level, bool console,
              const std::string& file_dir) {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.rank = rank;
  s.host = host;
  s.level = level;
  s.console = console;
  if (s.file) {
    std::fclose(s.file);
    s.file = nullptr;
  }
  if (!file_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(file_dir, ec);
    std::string path = file_dir + "/rank" + std::to_string(rank) + ".log";
    s.file = std::fopen(path.c_str(), "a");
    OT_REQUIRE(s.file, "cannot open log file ", path, " for appending: check that ", file_dir,
               " is writable (logging.dir)");
  }
}

void log_close() {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.file) std::fclose(s.file);
  s.file = nullptr;
}

std::string log_format(LogLevel level, const std::string& msg) {
  LogState& s = state();
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
  return str_cat("[", ts, "] [r", s.rank, "/", s.host, "] ", level_name(level), " ", msg);
}

void log_write(LogLevel level, const std::string& msg) {
  LogState& s = state();
  if (level < s.level) return;
  std::string line = log_format(level, msg);
  std::lock_guard<std::mutex> lock(s.mu);
  // Logs go to stderr, so a tool's stdout carries only its results (answers, tables, JSON).
  if (level >= LogLevel::Warn || s.console) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
  if (s.file) {
    std::fprintf(s.file, "%s\n", line.c_str());
    std::fflush(s.file);
  }
}

}  // namespace omnitune
