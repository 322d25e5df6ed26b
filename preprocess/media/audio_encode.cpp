#include "media/audio_encode.h"

#include <sndfile.h>

#include "core/error.h"

namespace omnitune {

void write_audio_file(const std::string& path, const std::vector<float>& interleaved, int channels, int sample_rate) {
  OT_REQUIRE(channels > 0 && sample_rate > 0 && interleaved.size() % static_cast<size_t>(channels) == 0, path,
             ": ", interleaved.size(), " samples do not make whole frames of ", channels, " channel(s)");
  const bool flac = path.size() >= 5 && path.compare(path.size() - 5, 5, ".flac") == 0;
  const bool wav = path.size() >= 4 && path.compare(path.size() - 4, 4, ".wav") == 0;
  OT_REQUIRE(flac || wav, path, ": write_audio_file writes .wav or .flac files");
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = channels;
  info.format = (flac ? SF_FORMAT_FLAC : SF_FORMAT_WAV) | SF_FORMAT_PCM_16;
  OT_REQUIRE(sf_format_check(&info), path, ": libsndfile cannot write this format (", channels, " channels at ",
             sample_rate, " Hz)");
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  OT_REQUIRE(f != nullptr, path, ": cannot open for writing: ", sf_strerror(nullptr));
  const sf_count_t frames = static_cast<sf_count_t>(interleaved.size() / static_cast<size_t>(channels));
  const sf_count_t written = sf_writef_float(f, interleaved.data(), frames);
  const int rc = sf_close(f);
  OT_REQUIRE(written == frames && rc == 0, path, ": writing failed after ", written, " of ", frames, " frames");
}

}  // namespace omnitune
