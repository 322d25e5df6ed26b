// Whole-file reads for inputs read once (images, audio clips, JSONL): one fstat and read() calls
// into a buffer of the final size, instead of a stream iterator copying byte by byte.
#pragma once

#include <string>

namespace omnitune {

// The bytes of `path`. Error "cannot read PATH (...)" naming the reason (missing, a directory,
// unreadable, changed size while read).
std::string read_file(const std::string& path);

}  // namespace omnitune
