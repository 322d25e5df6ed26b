// EXIF orientation: finds the Orientation tag (0x0112 in IFD0) in a JPEG's APP1 "Exif" segment or
// in a raw TIFF-structured block (a PNG eXIf chunk), and transposes pixels the way Pillow's
// ImageOps.exif_transpose does, which the Hugging Face `datasets` Image feature applies on decode.
// The parser reads only inside the bytes it is given: malformed metadata means "no orientation".
#pragma once

#include <cstddef>
#include <cstdint>

#include "media/image.h"

namespace omnitune {

// Orientation 1..8 from a TIFF block ("II*\0" or "MM\0*" header, then IFD0); 1 when the tag is
// absent, malformed, out of range or the block is not TIFF.
int exif_orientation_from_tiff(const uint8_t* tiff, size_t n);

// Orientation from the first APP1 segment starting "Exif\0\0" before the first scan of a JPEG
// stream (the segment Pillow reads); 1 when there is none.
int jpeg_exif_orientation(const uint8_t* jpeg, size_t n);

// Applies an orientation: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
// 7 transverse, 8 rotate 90 counter-clockwise (Pillow's Transpose methods for those values).
// 5..8 swap width and height. Any other value returns the image unchanged.
Image apply_exif_orientation(Image img, int orientation);

// Whether an orientation swaps width and height (5..8).
inline bool orientation_swaps_axes(int orientation) { return orientation >= 5 && orientation <= 8; }

}  // namespace omnitune
