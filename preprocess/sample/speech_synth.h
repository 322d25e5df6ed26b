// Spoken questions for the sample set: text -> WAV with Debian's espeak-ng, run as a subprocess
// (arguments passed as an argv array, never through a shell), and the written clip read back with
// the project's audio decoder so that an empty or silent synthesis is an error, not a bad row.
#pragma once

#include <string>

namespace omnitune {

// What a synthesised clip holds, as decoded from the file written.
struct SpeechClip {
  int sample_rate = 0;  // Hz (espeak-ng writes 22.05 kHz mono)
  double seconds = 0;   // duration
  double rms = 0;       // root mean square of the samples, full scale 1
};

// Full path of the espeak-ng program found on PATH; throws Error naming the Debian package
// (`apt-get install espeak-ng`) when there is none.
std::string espeak_ng_program();

// Speaks `text` (English voice, 160 words per minute) into `wav_path` and checks the result: the
// exit status, then 0.3-5 s of audio with an RMS above 0.005 (espeak-ng exits 0 even when it
// cannot write the file). Throws Error naming the text and the file otherwise. Deterministic:
// the same text gives the same bytes.
SpeechClip synthesise_speech(const std::string& text, const std::string& wav_path);

}  // namespace omnitune
