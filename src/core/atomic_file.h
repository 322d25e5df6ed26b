// Small files that must never be seen half-written (manifests, work records, checkpoint metadata,
// LATEST pointers): written to "<path>.tmp", checked, then renamed over <path>.
#pragma once

#include <string>

namespace omnitune {

// Writes `text` to `path` atomically; an Error names the file and the reason.
void write_text_file_atomic(const std::string& path, const std::string& text);

}  // namespace omnitune
