// Part files are plain POSIX appends: one write() per finished batch followed by fsync, so a kill
// leaves at most one unterminated line, which repair_own() cuts before the next append.
#include "generate/result_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/log.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    OT_REQUIRE(n > 0, "cannot write ", path, ": ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace

ResultStore::ResultStore(std::string output, int rank) : output_(std::move(output)), rank_(rank) {}

std::string ResultStore::own_part() const {
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.jsonl", rank_);
  return parts_dir() + "/" + name;
}

void ResultStore::prepare(const std::string& settings) const {
  const fs::path out(output_);
  if (out.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    OT_REQUIRE(!ec, "cannot create the directory of generate.output ", output_, ": ", ec.message());
  }
  std::error_code ec;
  fs::create_directories(parts_dir(), ec);
  OT_REQUIRE(!ec, "cannot create ", parts_dir(), ": ", ec.message());
  const std::string file = parts_dir() + "/settings.json";
  if (!fs::exists(file)) {
    write_atomic(file, settings + "\n");
    return;
  }
  const nlohmann::json old = nlohmann::json::parse(read_file(file), nullptr, false);
  const nlohmann::json now = nlohmann::json::parse(settings);
  if (old == now) return;
  std::string diff;
  if (old.is_object())
    for (auto it = now.begin(); it != now.end(); ++it)
      if (!old.contains(it.key()) || old[it.key()] != it.value())
        diff += str_cat("\n  ", it.key(), ": ", old.contains(it.key()) ? old[it.key()].dump() : "(none)", " before, ",
                        it.value().dump(), " now");
  OT_FAIL(parts_dir(), " holds answers made with other settings:", diff.empty() ? " (unreadable settings.json)" : diff,
          "\ndelete ", parts_dir(), " to start over, or choose another generate.output");
}

void ResultStore::repair_own() const {
  const std::string path = own_part();
  if (!fs::exists(path)) return;
  const std::string data = read_file(path);
  if (data.empty() || data.back() == '\n') return;
  const size_t keep = data.rfind('\n') == std::string::npos ? 0 : data.rfind('\n') + 1;
  OT_LOG_WARN(path, ": dropping an unfinished last line (", data.size() - keep, " bytes) left by an interrupted run");
  fs::resize_file(path, keep);
}

std::map<std::string, std::string> ResultStore::load_all() const {
  std::map<std::string, std::string> out;
  if (!fs::is_directory(parts_dir())) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(parts_dir()))
    if (e.path().filename().string().rfind("rank-", 0) == 0 && e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string data = read_file(f.string());
    size_t pos = 0;
    while (pos < data.size()) {
      const size_t nl = data.find('\n', pos);
      if (nl == std::string::npos) break;  // unfinished last line: not an answer yet
      const std::string line = data.substr(pos, nl - pos);
      pos = nl + 1;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) {
        OT_LOG_WARN(f.string(), ": skipping a line that is not an answer record");
        continue;
      }
      out[j["id"].get<std::string>()] = line;
    }
  }
  return out;
}

void ResultStore::append(const std::vector<std::string>& lines) const {
  if (lines.empty()) return;
  std::string data;
  for (const auto& l : lines) data += l + "\n";
  const std::string path = own_part();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  OT_REQUIRE(fd >= 0, "cannot open ", path, ": ", std::strerror(errno));
  write_all(fd, data, path);
  ::fsync(fd);
  ::close(fd);
}

void ResultStore::write_merged(const std::vector<std::string>& lines) const {
  std::string data;
  for (const auto& l : lines) data += l + "\n";
  write_atomic(output_, data);
}

void ResultStore::write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  OT_REQUIRE(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno));
  write_all(fd, text, tmp);
  ::fsync(fd);
  ::close(fd);
  OT_REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename ", tmp, " to ", path, ": ",
             std::strerror(errno));
}

}  // namespace omnitune
