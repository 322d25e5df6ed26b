// Writing audio files with libsndfile (16-bit PCM WAV or FLAC), for the sample dataset's clips.
#pragma once

#include <string>
#include <vector>

namespace omnitune {

// Writes interleaved float samples in [-1, 1] (frames x channels) to `path`; the container is
// chosen by the extension (.wav: 16-bit PCM WAV, .flac: 16-bit FLAC). Errors name the path.
void write_audio_file(const std::string& path, const std::vector<float>& interleaved, int channels, int sample_rate);

}  // namespace omnitune
