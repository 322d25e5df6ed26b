// Bilinear resize that reproduces Pillow's Image.resize((w, h), Image.BILINEAR), the resize the
// Gemma 3 / 3n image processors run (896x896 / 768x768, aspect ratio not kept), so pixels fed to
// the model match the Hugging Face reference. Single-threaded; callers parallelise over images.
#pragma once

#include "media/image.h"

namespace omnitune {

// Resizes a 1- or 3-channel image to out_w x out_h. Downscaling is antialiased (the triangle
// filter widens with the reduction factor), as in Pillow; an unchanged size returns a copy.
Image resize_bilinear(const Image& src, int out_w, int out_h);

namespace media_detail {
// Test and benchmark hook: false makes resize_bilinear use its portable kernels even on CPUs with
// AVX2 (both kernels must produce identical bytes). Process-wide; default true.
void set_resize_avx2_allowed(bool allowed);
}  // namespace media_detail

}  // namespace omnitune
