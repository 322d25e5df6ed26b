// espeak-ng through posix_spawn: the text is one argv entry after "--", so quotes, spaces or a
// leading dash in a question reach espeak-ng verbatim. Its stdout goes to our stderr (logs), so
// a tool's stdout keeps only its own results.
#include "sample/speech_synth.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "media/audio_decode.h"

extern char** environ;

namespace omnitune {

namespace fs = std::filesystem;

namespace {

constexpr double kMinSeconds = 0.3, kMaxSeconds = 5.0, kMinRms = 0.005;

}  // namespace

std::string espeak_ng_program() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
    const fs::path cand = fs::path(dir) / "espeak-ng";
    std::error_code ec;
    if (fs::is_regular_file(cand, ec) && ::access(cand.c_str(), X_OK) == 0) return cand.string();
    start = end + 1;
  }
  OT_FAIL("espeak-ng not found on PATH: spoken questions (--spoken 1) are synthesised with it. Install the Debian "
          "package: `apt-get install espeak-ng` (scripts/install-deps.sh lists it)");
}

SpeechClip synthesise_speech(const std::string& text, const std::string& wav_path) {
  OT_REQUIRE(!text.empty(), "cannot synthesise an empty question into ", wav_path);
  const std::string program = espeak_ng_program();
  std::vector<std::string> args{program, "-v", "en", "-s", "160", "-w", wav_path, "--", text};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::error_code ec;
  fs::remove(wav_path, ec);  // a clip left by an earlier run must not pass for this one
  posix_spawn_file_actions_t actions;
  OT_CHECK(posix_spawn_file_actions_init(&actions) == 0);
  OT_CHECK(posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO) == 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  OT_REQUIRE(rc == 0, "cannot run ", program, ": ", std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) OT_CHECK(errno == EINTR, "waitpid: ", std::strerror(errno));
  OT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "espeak-ng failed (",
             WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                               : "signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0),
             ") speaking \"", text, "\" into ", wav_path);

  // Read it back: a missing, empty or silent file must stop the run here.
  OT_REQUIRE(fs::exists(wav_path), "espeak-ng wrote no file for \"", text, "\" (", wav_path,
             "): is the output directory writable?");
  AudioClip clip;
  try {
    clip = decode_audio_file(wav_path);
  } catch (const Error& e) {
    OT_FAIL("espeak-ng wrote an unreadable clip for \"", text, "\": ", e.what());
  }
  double sum = 0;
  for (float v : clip.samples) sum += static_cast<double>(v) * v;
  SpeechClip out{clip.sample_rate, clip.seconds(), clip.samples.empty() ? 0.0 : std::sqrt(sum / clip.samples.size())};
  OT_REQUIRE(out.seconds >= kMinSeconds && out.seconds < kMaxSeconds, "espeak-ng spoke \"", text, "\" into ",
             wav_path, " as ", out.seconds, " s of audio; a spoken question must last ", kMinSeconds, "-", kMaxSeconds,
             " s (shorten the question, or check the espeak-ng install)");
  OT_REQUIRE(out.rms > kMinRms, "espeak-ng wrote silence for \"", text, "\" into ", wav_path, " (RMS ", out.rms,
             " over ", out.seconds, " s): check the espeak-ng install (`espeak-ng -v en \"test\"`)");
  return out;
}

}  // namespace omnitune
