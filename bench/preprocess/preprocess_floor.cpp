// The floor under omnitune-preprocess's image path: our decoders (libjpeg-turbo, libspng) and our
// Pillow-exact bilinear resize alone, one thread, files already in memory; no hashing, no HDF5,
// no tokenizer. bench/preprocess/run.sh compares the end-to-end rate with it.
//   preprocess_floor --size 896x896 --reps 3 FILE...
// Prints "floor decode_only <images/s>" and "floor decode_resize <images/s>" (medians over reps).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "media/image_decode.h"
#include "media/image_resize.h"

using namespace omnitune;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int width = 896, height = 896, reps = 3;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--size") && i + 1 < argc) {
      std::sscanf(argv[++i], "%dx%d", &width, &height);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      files.push_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: preprocess_floor [--size WxH] [--reps N] FILE...\n");
    return 2;
  }
  std::vector<std::string> bytes;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    bytes.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  try {
    std::vector<double> decode_rates, full_rates;
    size_t checksum = 0;  // keeps the work observable
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < bytes.size(); ++i) {
        Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size(), {}, files[i]);
        checksum += img.pixels[img.pixels.size() / 2];
      }
      auto t1 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < bytes.size(); ++i) {
        // The same steps as the pipeline's process_image: decode, gray RGB collapsed, resize.
        Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size(), {}, files[i]);
        if (img.channels == 3) img = collapse_gray_rgb(std::move(img));
        Image out = resize_bilinear(img, width, height);
        checksum += out.pixels[out.pixels.size() / 2];
      }
      auto t2 = std::chrono::steady_clock::now();
      decode_rates.push_back(bytes.size() / std::chrono::duration<double>(t1 - t0).count());
      full_rates.push_back(bytes.size() / std::chrono::duration<double>(t2 - t1).count());
    }
    std::printf("floor decode_only %.1f\nfloor decode_resize %.1f\n", median(decode_rates), median(full_rates));
    std::fprintf(stderr, "preprocess_floor: %zu images, %d rep(s), checksum %zu\n", bytes.size(), reps, checksum);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "preprocess_floor: %s\n", e.what());
    return 1;
  }
  return 0;
}
