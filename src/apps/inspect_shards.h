// `omnitune-inspect SHARDS_DIR [--sample N] [--image-out FILE] [--tokenizer FILE]`: what a
// preprocessed split holds, read back from its manifest and shards: counts, rejects, length
// histograms, shared images, one sample's conversation decoded to text with its training targets
// marked, and its first image written as a PNG to look at.
#pragma once

namespace omnitune {

// True when the command line asks for shard inspection (first argument is a path, not an option).
bool inspect_shards_requested(int argc, char** argv);
int inspect_shards_main(int argc, char** argv);

}  // namespace omnitune
